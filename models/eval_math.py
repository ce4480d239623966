"""Measure tiny-math on the arithmetic word problem test split: one sample vs majority vote.

    python -m models.eval_math --model models/tiny-math --tasks 100 --n 16 --temperature 0.8

Prints one JSON line per task and a summary: greedy accuracy, mean accuracy of one sampled
answer, majority-vote accuracy over the first k samples (ties go to the earliest answer; a
sample without an answer does not vote) and the oracle coverage (any sample correct).
"""
from __future__ import annotations

from collections import Counter

from benchmarks.tasks.arith_word import STOP_SEQUENCES, extract_answer, make_tasks
from models.sampling import eval_main, sample

KS = (1, 4, 16, 64)


def cut(text: str) -> str:
    ends = [i for i in (text.find(s) for s in STOP_SEQUENCES) if i >= 0]
    return text[: min(ends)] if ends else text


def majority(answers: list[str | None]) -> str | None:
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return None
    best = max(votes.values())
    return next(a for a in answers if a is not None and votes[a] == best)


def evaluate_task(model, tokenizer, task, n: int, temperature: float, seed: int) -> dict:
    answers = [extract_answer(cut(t)) for t in sample(model, tokenizer, task.prompt, n, temperature, 64, seed)]
    greedy = extract_answer(cut(sample(model, tokenizer, task.prompt, 1, 0.0, 64, seed)[0]))
    return {"task_id": task.id, "answer": task.answer, "greedy_correct": greedy == task.answer,
            "sample_accuracy": sum(a == task.answer for a in answers) / n,
            "coverage": task.answer in answers,
            **{f"vote@{k}": majority(answers[:k]) == task.answer for k in KS if k <= n}}


def summarise(rows: list[dict], n: int) -> dict:
    mean = lambda key: round(sum(r[key] for r in rows) / len(rows), 4)  # noqa: E731
    return {"tasks": len(rows), "n": n, "greedy_accuracy": mean("greedy_correct"),
            "one_sample_accuracy": mean("sample_accuracy"), "coverage": mean("coverage"),
            **{f"majority_vote@{k}": mean(f"vote@{k}") for k in KS if k <= n}}


def main(argv: list[str] | None = None) -> None:
    eval_main(argv, __doc__.splitlines()[0], "models/tiny-math", 100, 16, make_tasks, evaluate_task, summarise,
              extra=None)

if __name__ == "__main__":
    main()
