"""The editing trajectory: propose search/replace edits, apply them, run the reproduction tests
in the sandbox, read the output, revise; up to T turns.

Every turn proposes a patch against the buggy repository (a revision replaces the previous
patch; it does not stack on it), shown one ranked window of a context file plus feedback on the
previous attempt. A trajectory moves to another window after a rejected edit or a patch that
still fails: turn t of trajectory i shows the window ranked by the Cantor pairing of (i, t), so
parallel trajectories and serial turns both widen the search along the ranking's diagonal, and a
run with P' <= P, T' <= T sees exactly a prefix of what the larger run saw. The tests run after
each edit are the reproduction tests, or, when the testing trajectory kept none, the visible
tests that pass on the buggy repository (a patch that breaks them is revised). The trajectory's
patch is its best turn: most of those tests passing, then the earliest; a turn whose edit was
rejected yields no patch.
"""
from __future__ import annotations

from dataclasses import dataclass

from agents.codemonkeys.constrain import ChoiceProcessor, edit_choices
from agents.codemonkeys.context import Window
from agents.codemonkeys.edits import DIVIDER, SEARCH, EditError, patch_from
from agents.codemonkeys.prompts import edit_prefill, fit_edit_prompt
from agents.codemonkeys.testing import run_tests
from pipeline.core.types import SamplingParams, Task


@dataclass
class Attempt:
    turn: int
    diff: str  # "" when the edit was rejected
    tests_passed: int
    tests_total: int
    answer: str
    tokens: int
    changed: dict[str, str]  # the patched files (what the diff produces)


def window_for(windows: list[Window], index: int, turn: int) -> Window:
    diagonal = index + turn
    return windows[(diagonal * (diagonal + 1) // 2 + turn) % len(windows)]


def feedback_for(attempt: Attempt, reason: str) -> str:
    if not attempt.diff:
        return f"The previous edit was rejected: {reason}"
    return f"The previous patch did not fix the issue.\n{attempt.diff[-600:]}\n{reason}"


def try_edit(task: Task, window: Window, completion: str) -> tuple[dict[str, str], str]:
    """The patch of a completion of the edit prompt (which ends with the block's opening)."""
    shown = (window.path, window.start, window.text.count("\n") or 1)
    opened = SEARCH in completion.split(DIVIDER, 1)[0]  # the model rewrote the opening itself
    return patch_from(task.files, completion if opened else edit_prefill(window.path) + completion, shown)


def processors_for(task: Task, window: Window, choices_model: str | None) -> list | None:
    if not choices_model:
        return None
    choices = edit_choices(task.files[window.path], window.start, window.text.count("\n"))
    return [ChoiceProcessor(choices_model, choices)] if choices else None


def check_patch(task: Task, execute, changed: dict[str, str], tests: dict[str, str]) -> tuple[int, str]:
    """(reproduction tests passing with the patch, the output to read)."""
    if not tests:
        return 0, "no reproduction test to run"
    run = run_tests(execute, {**task.files, **changed}, task.metadata.get("source_root", ""), tests)
    return sum(run.file_passed.values()), run.error or run.output[-1500:]


def editing_trajectory(task: Task, generate, params: SamplingParams, execute, windows: list[Window],
                       tests: dict[str, str], index: int, turns: int, seed: int,
                       steps: list[dict], prompt_chars: int = 10_000,
                       choices_model: str | None = None) -> list[Attempt]:
    """Up to `turns` attempts; stops early once every reproduction test passes.
    `choices_model`: decode constrained to single-token edits of the shown lines (constrain.py),
    with that model folder's tokenizer."""
    attempts: list[Attempt] = []
    feedback = None
    for turn in range(turns):
        ranked = window_for(windows, index, turn)
        prompt, shown = fit_edit_prompt(task.prompt, ranked.path, ranked.start, ranked.text, feedback, prompt_chars)
        window = Window(ranked.path, ranked.start, shown)
        one = params.model_copy(update={"n": 1, "seed": seed * 1000 + turn, "stop": ["\n### "]})
        completion = generate([prompt], one, processors_for(task, window, choices_model))[0][0]
        try:
            changed, diff = try_edit(task, window, completion.text)
            passed, output = check_patch(task, execute, changed, tests)
            reason = output
        except EditError as exc:
            changed, diff, passed, reason = {}, "", 0, str(exc)
        attempt = Attempt(turn, diff, passed, len(tests), completion.text, completion.completion_tokens, changed)
        attempts.append(attempt)
        steps.append({"kind": "edit", "trajectory": index, "turn": turn, "window": f"{window.path}:{window.start + 1}",
                      "answer": completion.text[:2000], "diff": diff, "tests_passed": passed,
                      "tests_total": len(tests), "feedback": reason[-1500:], "tokens": completion.completion_tokens})
        if diff and tests and passed == len(tests):
            break
        feedback = feedback_for(attempt, reason)
    return attempts


def best_attempt(attempts: list[Attempt]) -> Attempt | None:
    """Most reproduction tests passing, then the earliest turn; None if every edit was rejected."""
    patched = [a for a in attempts if a.diff]
    return max(patched, key=lambda a: (a.tests_passed, -a.turn)) if patched else None
