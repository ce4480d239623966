"""Math answer checkers side by side on the labelled set tests/judging/math_answer_cases.jsonl.

One JSON line per checker: agreement with the labels, false positives (a pass that should
fail), false negatives, and the mean and p95 wall time of one check in ms.
- ttc-combined: pipeline.judging.answers.judge_answer (worker process, time limit, IPC included);
- ttc-normaliser-only: normalise_answer(prediction) == normalise_answer(gold), in process, the
  path answers_match used to take;
- math-verify: `verify(parse(gold), parse(prediction))` alone, in this main thread so its own
  signal timeouts work; a bare answer is wrapped in $...$ so its LaTeX extraction sees it.

    .venv/bin/python benchmarks/math_answer_bench.py [--errors] > benchmarks/results/math_answers.jsonl
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

CASES = Path(__file__).resolve().parents[1] / "tests" / "judging" / "math_answer_cases.jsonl"


def load_cases(path: Path = CASES) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ttc_combined(gold: str, prediction: str) -> bool:
    from pipeline.judging.answers import judge_answer

    return judge_answer(prediction, gold).match


def ttc_normaliser_only(gold: str, prediction: str) -> bool:
    from pipeline.judging.answers import normalise_answer

    return normalise_answer(prediction) == normalise_answer(gold)


def math_verify_alone(gold: str, prediction: str) -> bool:
    from math_verify import parse, verify

    return bool(verify(parse(_as_math(gold)), parse(_as_math(prediction))))


def _as_math(text: str) -> str:
    """A bare answer in $...$ (math-verify extracts LaTeX from delimiters); a completion as it is."""
    if text.startswith("$") or any(mark in text for mark in ("\\boxed", "\\[", "\n")):
        return text
    return f"${text}$"


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "ttc-combined": ttc_combined, "ttc-normaliser-only": ttc_normaliser_only, "math-verify": math_verify_alone,
}


def score(name: str, check: Callable[[str, str], bool], cases: list[dict], show_errors: bool) -> dict:
    check("\\frac{1}{2}", "0.5")  # warm up: imports, parser tables, the worker process
    times, false_positives, false_negatives = [], 0, 0
    for case in cases:
        started = time.perf_counter()
        passed = check(case["gold"], case["prediction"])
        times.append((time.perf_counter() - started) * 1000)
        wrong = passed != case["should_match"]
        false_positives += wrong and passed
        false_negatives += wrong and not passed
        if wrong and show_errors:
            print(f"{name}: {'FP' if passed else 'FN'} gold={case['gold']!r} prediction={case['prediction']!r} "
                  f"({case['note']})", file=sys.stderr)
    agreement = 1 - (false_positives + false_negatives) / len(cases)
    return {"checker": name, "cases": len(cases), "agreement": round(agreement, 4),
            "false_positives": false_positives, "false_negatives": false_negatives,
            "mean_ms": round(statistics.fmean(times), 2), "p95_ms": round(_percentile(times, 95), 2)}


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list each disagreement on stderr")
    parser.add_argument("--only", choices=sorted(CHECKERS), help="run one checker")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    cases = load_cases()
    for name, check in CHECKERS.items():
        if args.only in (None, name):
            print(json.dumps(score(name, check, cases, args.errors)), flush=True)


if __name__ == "__main__":
    main()
