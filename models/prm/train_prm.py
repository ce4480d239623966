"""Train tiny-math-prm: a process reward model for tiny-math's step-by-step solutions, scored by
the `prm` verifier. CPU, fixed seed.

    python -m models.prm.train_prm --out models/tiny-math-prm --tasks 3000 --samples 8 --steps 1200

1. tiny-math samples `--samples` solutions for each of `--tasks` TRAIN-split arith_word problems
   (HFGenerator, temperature 0.8); each problem's reference solution is added.
2. Each distinct solution is labelled step by step by the exact process verifier `step_check`:
   step i is positive when steps 0..i are all correct (its `prefix_correct`), the label a PRM
   is asked for (P(the solution is still right after this step)).
3. A token-classification head with one logit on tiny-math's transformer (its weights as the
   start) learns these labels with binary cross-entropy at the last token of each step's
   separator: the positions the `prm` verifier reads.
4. The saved folder is measured through PRMVerifier itself on TEST-split samples (problems
   disjoint from training) against step_check: step accuracy and AUC, and best-of-N by the
   PRM against a majority vote. The numbers go to training_log.json in the folder.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.tasks.arith_word import make_tasks
from models.reward.train_reward import auc, save
from models.train_tiny import lr_at, optimizer_step
from pipeline.core.types import Candidate, SamplingParams, Task
from pipeline.judging.prm import scored_text, split_steps, step_token_indices
from pipeline.judging.step_check import StepCheckVerifier

DEFAULT_BASE = "models/tiny-math"
SEPARATOR = "\n"
THRESHOLD = 0.5


@dataclass(frozen=True)
class Example:
    task_id: str
    prompt: str
    steps: list[str]
    labels: list[bool]  # step_check's prefix_correct
    local: list[bool]  # step_check's per-step correct
    passed: bool
    answer: str | None


# --- data --------------------------------------------------------------------------------------


def sample_solutions(base: str, tasks: list[Task], samples: int, seed: int, temperature: float = 0.8) -> list[list[str]]:
    from pipeline.generators.hf import HFGenerator

    out: list[list[str]] = []
    with HFGenerator(base, device="cpu", max_batch_size=256) as generator:
        for start in range(0, len(tasks), 32):
            chunk = tasks[start : start + 32]
            params = SamplingParams(n=samples, temperature=temperature, max_new_tokens=96,
                                    stop=chunk[0].metadata["stop"], seed=seed + start)
            out += [[c.text for c in completions] for completions in generator.generate([t.prompt for t in chunk], params)]
            if start % 640 == 0:
                print(f"sampled {len(out)}/{len(tasks)} tasks", flush=True)
    return out


def label_task(task: Task, solutions: list[str], with_reference: bool) -> list[Example]:
    """One Example per distinct solution that step_check can judge."""
    from benchmarks.tasks.arith_word import extract_answer

    texts = list(dict.fromkeys(solutions + ([task.metadata["solution"]] if with_reference else [])))
    candidates = [Candidate(task_id=task.id, sample_index=i, content=t) for i, t in enumerate(texts)]
    examples = []
    for text, verdict in zip(texts, StepCheckVerifier(SEPARATOR).verify(task, candidates)):
        if verdict.error:
            continue
        examples.append(Example(task.id, task.prompt, split_steps(text, SEPARATOR), verdict.details["prefix_correct"],
                                [s["correct"] for s in verdict.details["steps"]], verdict.passed, extract_answer(text)))
    return examples


def near_misses(task: Task, per_task: int, rng: random.Random) -> list[str]:
    """The reference cut after one step whose result is off by 1-5: a wrong sum in a right
    chain, tiny-math's commonest mistake, next to the reference it differs from by one number."""
    lines = task.metadata["solution"].split("\n")[:-1]
    out = []
    for _ in range(per_task):
        at = rng.randrange(len(lines))
        head, result = lines[at].rsplit(" = ", 1)
        wrong = max(0, int(result) + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]))
        if wrong != int(result):
            out.append("\n".join(lines[:at] + [f"{head} = {wrong}"]))
    return out


def near_miss_examples(n_tasks: int, per_task: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    tasks = make_tasks("train", n_tasks, seed=seed + 1)  # other problems than the sampled ones
    examples = [e for t in tasks for e in label_task(t, near_misses(t, per_task, rng), with_reference=True)]
    print(f"near misses: {len(examples)} solutions of {n_tasks} problems", flush=True)
    return examples


def collect(base: str, split: str, n_tasks: int, samples: int, seed: int) -> tuple[list[Task], list[list[Example]]]:
    tasks = make_tasks(split, n_tasks, seed=seed)
    solutions = sample_solutions(base, tasks, samples, seed)
    per_task = [label_task(t, s, with_reference=split == "train") for t, s in zip(tasks, solutions)]
    steps = [label for examples in per_task for e in examples for label in e.labels]
    print(f"{split}: {sum(map(len, per_task))} distinct solutions, {len(steps)} steps, {sum(steps)} positive", flush=True)
    return tasks, per_task


# --- model -------------------------------------------------------------------------------------


def build_model(base: str):
    """tiny-math's transformer with a fresh 1-logit token-classification head."""
    from transformers import AutoTokenizer, LlamaForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = LlamaForTokenClassification.from_pretrained(
        base, num_labels=1, id2label={0: "correct"}, label2id={"correct": 0})
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def batch_tensors(tokenizer, rows: list[Example]):
    """Inputs, and (row, token) positions with their labels."""
    import torch

    texts, ends = zip(*(scored_text(e.prompt, e.steps, SEPARATOR) for e in rows))
    inputs = tokenizer(list(texts), padding=True, return_offsets_mapping=True, return_tensors="pt")
    offsets = inputs.pop("offset_mapping").tolist()
    where, labels = [], []
    for row, (example, row_ends) in enumerate(zip(rows, ends)):
        for token, label in zip(step_token_indices(offsets[row], row_ends), example.labels):
            where.append((row, token))
            labels.append(float(label))
    return inputs, torch.tensor(where), torch.tensor(labels)


def train(model, tokenizer, examples: list[Example], steps: int, seed: int, batch: int = 32,
          peak_lr: float = 2e-3) -> list[float]:
    import torch

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=peak_lr, weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses, started = [], time.time()
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, peak_lr, warmup=40)
        inputs, where, labels = batch_tensors(tokenizer, [rng.choice(examples) for _ in range(batch)])
        logits = model(**inputs).logits[..., 0]
        loss = loss_fn(logits[where[:, 0], where[:, 1]], labels)
        optimizer_step(model, optimizer, loss, losses, step, steps, started)
    return losses


# --- measurement -------------------------------------------------------------------------------


def step_rates(scores: list[float], labels: list[bool]) -> dict[str, float]:
    said = [s >= THRESHOLD for s in scores]
    tp = sum(s and y for s, y in zip(said, labels))
    tn = sum(not s and not y for s, y in zip(said, labels))
    pos, neg = sum(labels), len(labels) - sum(labels)
    return {"steps": len(labels), "positive_share": pos / len(labels), "accuracy": (tp + tn) / len(labels),
            "true_positive_rate": tp / pos if pos else float("nan"),
            "true_negative_rate": tn / neg if neg else float("nan"),
            "balanced_accuracy": (tp / pos + tn / neg) / 2 if pos and neg else float("nan"),
            "auc": auc(scores, labels)}


def selection_accuracy(tasks: list[Task], per_task: list[list[Example]], scores: list[list[list[float]]]) -> dict:
    """Over the distinct test solutions of each task: share of tasks where the PRM's best solution
    (last step score) has the task's answer, against the majority answer of those solutions."""
    from collections import Counter

    by_prm = by_vote = 0
    for task, examples, task_scores in zip(tasks, per_task, scores):
        if not examples:
            continue
        best = max(range(len(examples)), key=lambda i: (task_scores[i][-1], -i))
        by_prm += examples[best].answer == task.answer
        votes = Counter(e.answer for e in examples if e.answer is not None)
        by_vote += bool(votes) and votes.most_common(1)[0][0] == task.answer
    return {"tasks": len(tasks), "prm_best_last": by_prm / len(tasks), "majority_of_distinct": by_vote / len(tasks)}


def measure(model_dir: Path, tasks: list[Task], per_task: list[list[Example]]) -> dict:
    """The saved model through PRMVerifier's own scoring, against step_check's labels."""
    from pipeline.judging.prm import PRMVerifier

    verifier = PRMVerifier(str(model_dir), separator=SEPARATOR, device="cpu")
    scores = []
    for task, examples in zip(tasks, per_task):
        candidates = [Candidate(task_id=task.id, sample_index=i, content=SEPARATOR.join(e.steps))
                      for i, e in enumerate(examples)]
        scores.append([v.details["step_scores"] for v in verifier.verify(task, candidates)])
    flat = [s for task_scores in scores for solution in task_scores for s in solution]
    examples = [e for task_examples in per_task for e in task_examples]
    prefix = [y for e in examples for y in e.labels]
    local = [y for e in examples for y in e.local]
    finals = [solution[-1] for task_scores in scores for solution in task_scores]
    return {"solutions": len(examples), "vs_prefix_correct": step_rates(flat, prefix),
            "vs_step_correct": step_rates(flat, local),
            "solution_auc_last_step_vs_passed": auc(finals, [e.passed for e in examples]),
            "selection": selection_accuracy(tasks, per_task, scores)}


# --- entry point -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", default=DEFAULT_BASE, help="the generator: samples come from it, weights start from it")
    parser.add_argument("--tasks", type=int, default=3000, help="train-split problems to sample")
    parser.add_argument("--samples", type=int, default=8, help="samples per train problem")
    parser.add_argument("--test-tasks", type=int, default=200, help="test-split problems to measure on (0: skip)")
    parser.add_argument("--test-samples", type=int, default=8)
    parser.add_argument("--near-misses", type=int, default=0, help="per problem: its reference cut after a "
                        "step whose result is off by 1-5 (hard negatives, labelled by step_check)")
    parser.add_argument("--near-miss-tasks", type=int, default=3000, help="train problems the near misses come from")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on the shared 2-core machine)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    _, train_sets = collect(args.base, "train", args.tasks, args.samples, args.seed)
    examples = [e for task_examples in train_sets for e in task_examples]
    if args.near_misses:
        examples += near_miss_examples(args.near_miss_tasks, args.near_misses, args.seed)
    test = collect(args.base, "test", args.test_tasks, args.test_samples, args.seed) if args.test_tasks else None
    model, tokenizer = build_model(args.base)
    losses = train(model, tokenizer, examples, args.steps, args.seed)
    labels = [y for e in examples for y in e.labels]
    info = {"model": "tiny-math-prm", "base": args.base, "seed": args.seed, "steps": args.steps,
            "train_tasks": args.tasks, "samples_per_task": args.samples, "train_solutions": len(examples),
            "train_steps": len(labels), "train_positive_steps": sum(labels),
            "near_misses": args.near_misses, "near_miss_tasks": args.near_miss_tasks if args.near_misses else 0,
            "final_loss": sum(losses[-50:]) / len(losses[-50:]), "separator": SEPARATOR}
    save(args.out, model, tokenizer, info)
    if test:
        info["test"] = measure(args.out, *test) | {"tasks": args.test_tasks, "samples_per_task": args.test_samples}
    info["wall_s"] = round(time.time() - started, 1)
    save(args.out, model, tokenizer, info)
    print(json.dumps(info), flush=True)
    return info


if __name__ == "__main__":
    main()
