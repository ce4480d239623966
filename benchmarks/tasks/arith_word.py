"""Synthetic arithmetic word problems with a short chain of steps and a final numeric answer.

Prompt (what the model sees), always ending with "Solution:\\n":

    Question: Tom has 3 apples. He buys 4 more. He gives away 2. How many apples does Tom have now?
    Solution:

Reference completion (one line per step, then the answer line):

    3 + 4 = 7
    7 - 2 = 5
    Answer: 5

Stop sequences: STOP_SEQUENCES (the model also ends with its eos token). `extract_answer`
reads the final number after "Answer:". Train/test split is by problem identity (the start
number and the operations with their numbers, names and wording excluded): a problem is in
the test split iff the hash of its identity falls in the test bucket, so no test problem
appears in training, whatever the seed or the story around it.
"""
from __future__ import annotations

import hashlib
import random
import re

from pipeline.core.types import Task

STOP_SEQUENCES = ["\nQuestion:", "\n\n"]
TEST_PERCENT = 20
SPLITS = ("train", "test")
MAX_VALUE = 99
PEOPLE = [("Tom", "He", "him"), ("Ann", "She", "her"), ("Sam", "He", "him"), ("Mia", "She", "her"),
          ("Ben", "He", "him"), ("Lily", "She", "her"), ("Max", "He", "him"), ("Zoe", "She", "her")]
ITEMS = ["apples", "pens", "cards", "coins", "books", "marbles", "stickers", "shells", "stamps", "cookies"]
ANSWER = re.compile(r"Answer:\s*(-?\d+)")

# op -> sentence templates; {p} pronoun, {o} object pronoun, {b}/{c} numbers, {i} items
SENTENCES = {
    "+": ["{p} buys {b} more.", "{p} finds {b} more.", "A friend gives {o} {b} more."],
    "-": ["{p} gives away {b}.", "{p} loses {b}.", "{p} sells {b}."],
    "*": ["{p} buys {c} bags with {b} {i} in each."],
    "/": ["{p} shares them equally among {b} friends and keeps one share."],
}


def _next_op(rng: random.Random, value: int) -> tuple[str, int, int] | None:
    """One operation (op, b, c) that keeps the running value in 0..MAX_VALUE, or None."""
    op = rng.choice("+-*/")
    if op == "+":
        b = rng.randint(1, 15)
        return ("+", b, 0) if value + b <= MAX_VALUE else None
    if op == "-":
        b = rng.randint(1, 15)
        return ("-", b, 0) if value - b >= 0 else None
    if op == "*":
        b, c = rng.randint(2, 6), rng.randint(2, 4)
        return ("*", b, c) if value + b * c <= MAX_VALUE else None
    divisors = [d for d in (2, 3, 4, 5) if value and value % d == 0]
    return ("/", rng.choice(divisors), 0) if divisors else None


def _apply(value: int, op: tuple[str, int, int]) -> tuple[int, list[str]]:
    """New value and the solution lines for one operation."""
    kind, b, c = op
    if kind == "+":
        return value + b, [f"{value} + {b} = {value + b}"]
    if kind == "-":
        return value - b, [f"{value} - {b} = {value - b}"]
    if kind == "*":
        return value + b * c, [f"{c} * {b} = {b * c}", f"{value} + {b * c} = {value + b * c}"]
    return value // b, [f"{value} / {b} = {value // b}"]


def _sample_problem(rng: random.Random) -> tuple[int, list[tuple[str, int, int]]]:
    start = rng.randint(2, 20)
    ops: list[tuple[str, int, int]] = []
    value, wanted = start, rng.randint(2, 3)
    while len(ops) < wanted:
        op = _next_op(rng, value)
        if op is not None:
            ops.append(op)
            value = _apply(value, op)[0]
    return start, ops


def problem_id(start: int, ops: list[tuple[str, int, int]]) -> str:
    """The identity the split is made on: the numbers and operations, not the story."""
    text = f"{start}|" + "|".join(f"{k}{b},{c}" for k, b, c in ops)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_of(identity: str) -> str:
    return "test" if int(identity, 16) % 100 < TEST_PERCENT else "train"


def _question(rng: random.Random, start: int, ops: list[tuple[str, int, int]]) -> str:
    name, pronoun, obj = rng.choice(PEOPLE)
    items = rng.choice(ITEMS)
    sentences = [f"{name} has {start} {items}."]
    for kind, b, c in ops:
        sentences.append(rng.choice(SENTENCES[kind]).format(p=pronoun, o=obj, b=b, c=c, i=items))
    sentences.append(f"How many {items} does {name} have now?")
    return " ".join(sentences)


def _solution(start: int, ops: list[tuple[str, int, int]]) -> tuple[str, int]:
    value, lines = start, []
    for op in ops:
        value, step_lines = _apply(value, op)
        lines += step_lines
    return "\n".join(lines + [f"Answer: {value}"]), value


def _make_task(rng: random.Random, split: str, seen) -> Task | None:
    start, ops = _sample_problem(rng)
    identity = problem_id(start, ops)
    if split_of(identity) != split or identity in seen:
        return None
    solution, value = _solution(start, ops)
    return Task(
        id=f"math-{split}-{identity}", kind="math", prompt=f"Question: {_question(rng, start, ops)}\nSolution:\n",
        answer=str(value),
        metadata={"solution": solution, "problem_id": identity, "split": split, "steps": len(ops),
                  "stop": STOP_SEQUENCES},
    )


def make_tasks(split: str, n: int | None = None, seed: int = 0) -> list[Task]:
    """`n` distinct problems of `split` ("train" or "test"); default 200 test / 20000 train."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    n = n if n is not None else (200 if split == "test" else 20000)
    rng = random.Random(f"arith_word/{split}/{seed}")
    tasks: dict[str, Task] = {}
    for _ in range(200 * n + 10_000):
        if len(tasks) == n:
            return list(tasks.values())
        task = _make_task(rng, split, tasks.keys())
        if task is not None:
            tasks[task.metadata["problem_id"]] = task
    raise RuntimeError(f"could only make {len(tasks)} distinct {split} problems of {n} asked")


def reference_completion(task: Task) -> str:
    return task.metadata["solution"]


def extract_answer(text: str) -> str | None:
    """The number after the first "Answer:", normalised ("07" -> "7"); None when there is none."""
    match = ANSWER.search(text)
    return str(int(match.group(1))) if match else None
