"""Selection: vote with the model-written tests across candidates, then a selection trajectory
among the top candidates.

Vote: every distinct candidate patch runs against every kept reproduction test; its score is the
number it passes, then (a regression filter, when given) how many of the repository's visible
test files that pass on the buggy repository still pass, then how many trajectories proposed the
same patch, then order.
Selection trajectory: the generator is shown the top candidates and asked for the number of the
one that fixes the issue; an answer that names no shown candidate falls back to the vote.
"""
from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from agents.codemonkeys.prompts import pick_prompt
from agents.codemonkeys.testing import run_tests
from pipeline.core.types import SamplingParams, Task


VOTE_TIMEOUT_S = 30.0  # a patch that hangs the tests loses the vote; don't wait long for it


@dataclass
class Scored:
    diff: str
    changed: dict[str, str]
    tests_passed: int
    proposals: int  # trajectories that ended with this patch
    regression_passed: int = 0


def vote(task: Task, execute, patches: list[tuple[str, dict[str, str]]], tests: dict[str, str],
         cache: dict[str, tuple[int, int]] | None = None, regression: dict[str, str] | None = None) -> list[Scored]:
    """Distinct non-empty patches scored with the reproduction tests (and the `regression` test
    files), best first. `cache` (diff -> scores) spares re-running a patch scored before."""
    cache = {} if cache is None else cache
    counts = Counter(diff for diff, _ in patches if diff)
    distinct = {diff: changed for diff, changed in patches if diff}
    todo = [diff for diff in distinct if diff not in cache]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the sandbox pool runs them side by side
        for diff, score in zip(todo, pool.map(lambda d: tests_passed(task, execute, distinct[d], tests, regression or {}), todo)):
            cache[diff] = score
    scored = [Scored(diff, changed, cache[diff][0], counts[diff], cache[diff][1]) for diff, changed in distinct.items()]
    order = list(distinct)
    return sorted(scored, key=lambda s: (-s.tests_passed, -s.regression_passed, -s.proposals, order.index(s.diff)))


def tests_passed(task: Task, execute, changed: dict[str, str], tests: dict[str, str],
                 regression: dict[str, str]) -> tuple[int, int]:
    """(reproduction test files passing, regression test files passing) with the patch."""
    if not tests and not regression:
        return 0, 0
    run = run_tests(execute, {**task.files, **changed}, task.metadata.get("source_root", ""), {**regression, **tests},
                    VOTE_TIMEOUT_S)
    return sum(run.file_passed[p] for p in tests), sum(run.file_passed[p] for p in regression)


def parse_choice(text: str, count: int) -> int | None:
    """The 0-based candidate a model answer names (its first number), or None."""
    match = re.search(r"\d+", text)
    if not match:
        return None
    number = int(match.group())
    return number - 1 if 1 <= number <= count else None


def selection_trajectory(task: Task, generate, params: SamplingParams, top: list[Scored], seed: int,
                         steps: list[dict], prompt_chars: int = 10_000) -> Scored | None:
    """The model's pick among `top` (the vote's best first); the vote's first when unparsable."""
    if not top:
        steps.append({"kind": "select", "method": "none", "reason": "no candidate patch"})
        return None
    if len(top) == 1:
        steps.append({"kind": "select", "method": "vote", "choice": 0, "reason": "a single top candidate"})
        return top[0]
    prompt = pick_prompt(task.prompt, [s.diff for s in top], prompt_chars)
    one = params.model_copy(update={"n": 1, "seed": seed, "temperature": 0.0, "max_new_tokens": 8, "stop": ["\n"]})
    answer = generate([prompt], one)[0][0].text
    choice = parse_choice(answer, len(top))
    method = "model" if choice is not None else "vote_fallback"
    steps.append({"kind": "select", "method": method, "answer": answer[:200], "choice": choice or 0,
                  "candidates": len(top)})
    return top[choice or 0]
