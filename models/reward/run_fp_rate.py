"""The verifier's false-positive rate in a finished run, and the N it recommends.

    python -m models.reward.run_fp_rate runs/demo_reward-...

For runs with `verifier` imperfect and `oracle` ground truth (configs/demo_reward.yaml):
one verifier verdict per sample (duplicates count, as resampling would meet them), judged
against the oracle's verdict for the same candidate key, then `recommend_n` with that rate
and the run's per-task correct rates. summary.json's own `recommended_n` assumes fp_rate 0.
"""
from __future__ import annotations

import argparse
import json
import math

from pipeline.core.config import build_config, read_yaml
from pipeline.judging.evaluation import held_out_split, recommend_n, verifier_false_positive_rate
from pipeline.engine.store import RunStore
from pipeline.core.types import Verdict


def load_verdicts(store: RunStore, verifier: str) -> dict[tuple[str, str], Verdict]:
    rows = [r for r in store.read("verdicts") if r["verifier"] == verifier]
    return {(r["task_id"], r["candidate_key"]): Verdict.model_validate({k: v for k, v in r.items() if k != "key"})
            for r in rows}


def per_sample_verdicts(samples: list[dict], verdicts: dict[tuple[str, str], Verdict]) -> list[Verdict]:
    return [verdicts[(s["task_id"], s["candidate_key"])] for s in samples]


def per_task_p(samples: list[dict]) -> list[float]:
    counts: dict[str, list[int]] = {}
    for s in samples:
        n_c = counts.setdefault(s["task_id"], [0, 0])
        n_c[0] += 1
        n_c[1] += bool(s["passed"])
    return [c / n for n, c in counts.values()]


def measure_run(run_dir: str) -> dict:
    store = RunStore(run_dir)
    config = build_config(read_yaml(f"{run_dir}/config.yaml"))
    if not config.oracle:
        raise ValueError(f"run {run_dir} has no oracle: its verifier is its own ground truth")
    samples = store.read("samples")
    truth = {k: v.passed and v.error is None for k, v in load_verdicts(store, config.oracle).items()}
    judged = per_sample_verdicts(samples, load_verdicts(store, config.verifier))
    fp = verifier_false_positive_rate(judged, truth)
    _, held_out = held_out_split({s["task_id"] for s in samples})
    coverage = json.loads((store.run_dir / "summary.json").read_text())["coverage_curve"]
    coverage = {int(k): v for k, v in coverage.items()}
    rec = recommend_n(coverage, fp, per_task_p=per_task_p(samples)) if not math.isnan(fp) else None
    return {"verifier": config.verifier, "oracle": config.oracle, "samples": len(samples),
            "wrong_samples": sum(not s["passed"] for s in samples),
            "false_positive_rate": fp, "false_positive_rate_held_out_half": verifier_false_positive_rate(
                judged, truth, task_ids=sorted(held_out)),
            "true_positive_rate": _true_positive_rate(judged, truth),
            "recommended_n": rec.__dict__ if rec else None}


def _true_positive_rate(verdicts: list[Verdict], truth: dict[tuple[str, str], bool]) -> float:
    right = [v for v in verdicts if truth[(v.task_id, v.candidate_key)]]
    return sum(v.passed and v.error is None for v in right) / len(right) if right else math.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    print(json.dumps(measure_run(parser.parse_args(argv).run_dir), indent=2))


if __name__ == "__main__":
    main()
