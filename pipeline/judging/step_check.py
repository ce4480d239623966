"""step_check: an exact process verifier for step-by-step arithmetic (the arith_word task set).

A candidate is a solution, one step a line, ending with `Answer: N`. A step is an equation
`a op b = c` (ASCII digits, op one of + - * /) and is correct when
- its arithmetic holds (division exact, never by zero),
- it is one of the task's reference steps not used yet (+ and * in either order), and
- its operands are numbers of the question or results of earlier correct steps.
The answer line is correct when it is the last line and says the task's answer. The candidate
passes when every line is correct, every reference step is shown and the answer line is there:
a right-looking line that is not the problem's own step (`2 + 2 = 4`), a repeated step, or an
answer without the work does not pass.

Per-step judgements go to `details["steps"]`; `details["prefix_correct"][i]` says whether steps
0..i are all correct, the label a process reward model learns (Math-Shepherd's "this prefix can
still reach the answer"). What cannot be judged (a task without a reference solution, a number
too long to read, nothing to check) is an error verdict, never a pass.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.core.types import Candidate, Task, Verdict
from pipeline.judging.sandboxed import error_verdicts, verify_distinct

MAX_DIGITS = 18  # far past any value of the task family; longer numbers are not read at all
MAX_LINE_CHARS = 200
_NUMBER = r"(-?[0-9]+)"  # ASCII only: int() would also read other scripts' digits
_EQUATION = re.compile(rf"\s*{_NUMBER}\s*([-+*/])\s*{_NUMBER}\s*=\s*{_NUMBER}\s*")
_ANSWER = re.compile(rf"\s*Answer:\s*{_NUMBER}\s*\.?\s*")
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_DIGITS + 1},}}")
_QUESTION_NUMBER = re.compile(r"(?<![0-9])[0-9]{1,%d}(?![0-9])" % MAX_DIGITS)
COMMUTATIVE = {"+", "*"}


class CannotJudge(ValueError):
    """The verifier cannot decide; the verdict is an error."""


@dataclass(frozen=True)
class Step:
    a: int
    op: str
    b: int
    result: int

    def form(self) -> tuple:
        """What makes two steps the same step: + and * in either order."""
        operands = tuple(sorted((self.a, self.b))) if self.op in COMMUTATIVE else (self.a, self.b)
        return (self.op, operands, self.result)


def compute(a: int, op: str, b: int) -> int | None:
    """a op b in integers, None where it has no integer value."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b if b != 0 and a % b == 0 else None


def parse_step(line: str) -> Step | None:
    """The equation on `line`, or None when the line is not one; CannotJudge for a number too long."""
    if _LONG_NUMBER.search(line):
        raise CannotJudge(f"a number of more than {MAX_DIGITS} digits in {line[:60]!r}")
    match = _EQUATION.fullmatch(line) if len(line) <= MAX_LINE_CHARS else None
    if match is None:
        return None
    a, op, b, result = match.groups()
    return Step(int(a), op, int(b), int(result))


def parse_answer(line: str) -> int | None:
    if _LONG_NUMBER.search(line):
        raise CannotJudge(f"a number of more than {MAX_DIGITS} digits in {line[:60]!r}")
    match = _ANSWER.fullmatch(line) if len(line) <= MAX_LINE_CHARS else None
    return int(match.group(1)) if match else None


def solution_steps(text: str, separator: str = "\n") -> list[str]:
    """The non-empty steps of a solution, stripped."""
    return [s.strip() for s in text.split(separator) if s.strip()]


@dataclass(frozen=True)
class Reference:
    steps: Counter  # step forms of the reference solution, with multiplicity
    answer: int
    givens: frozenset[int]  # the numbers written in the question


def reference_of(task: Task) -> Reference:
    """The task's reference steps, answer and question numbers; CannotJudge when it has none."""
    solution, answer = task.metadata.get("solution"), task.answer
    if not isinstance(solution, str) or answer is None:
        raise CannotJudge(f"task {task.id!r} has no reference solution and answer (metadata 'solution', 'answer')")
    lines = solution_steps(solution)
    steps = [parse_step(line) for line in lines[:-1]]
    if not lines or None in steps or parse_answer(lines[-1]) is None:
        raise CannotJudge(f"task {task.id!r}: its reference solution is not equations and an answer line")
    question = task.prompt.split("Solution:")[0]
    givens = frozenset(int(n) for n in _QUESTION_NUMBER.findall(question))
    return Reference(Counter(s.form() for s in steps), int(answer), givens)


def judge_lines(lines: list[str], ref: Reference) -> list[tuple[bool, str]]:
    """(correct, reason) per line, in order."""
    unused, known = Counter(ref.steps), set(ref.givens)
    judged: list[tuple[bool, str]] = []
    for index, line in enumerate(lines):
        judged.append(judge_line(line, index == len(lines) - 1, unused, known, ref))
    return judged


def judge_line(line: str, is_last: bool, unused: Counter, known: set[int], ref: Reference) -> tuple[bool, str]:
    """One line against what is still unused and known; updates both for a correct step."""
    answer = parse_answer(line)
    if answer is not None:
        if not is_last:
            return False, "an answer line before the last line"
        return (answer == ref.answer, "the task's answer" if answer == ref.answer else f"answer {answer} is wrong")
    step = parse_step(line)
    if step is None:
        return False, "not an equation a op b = c"
    if compute(step.a, step.op, step.b) != step.result:
        return False, "wrong arithmetic"
    if unused[step.form()] == 0:
        return False, "not a step of this problem (or repeated)"
    if not {step.a, step.b} <= known:
        return False, "uses a number neither given nor computed before"
    unused[step.form()] -= 1
    known.add(step.result)
    return True, "correct"


def prefix_flags(correct: list[bool]) -> list[bool]:
    flags, ok = [], True
    for c in correct:
        ok = ok and c
        flags.append(ok)
    return flags


class StepCheckVerifier:
    """Exact per-step check of an arith_word solution (see the module docstring); score =
    share of correct lines, passed = a complete, all-correct solution. `separator` splits steps."""

    name = "step_check"

    def __init__(self, separator: str = "\n"):
        if not separator:
            raise ValueError("step_check: separator must not be empty")
        self.separator = separator

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        try:
            reference = reference_of(task)
        except CannotJudge as why:
            return error_verdicts(task, candidates, self.name, str(why))
        return verify_distinct(candidates, lambda firsts: [self.judge(task, c, reference) for c in firsts])

    def judge(self, task: Task, candidate: Candidate, reference: Reference) -> Verdict:
        about = dict(task_id=task.id, candidate_key=candidate.key, verifier=self.name)
        lines = solution_steps(candidate.content, self.separator)
        if not lines:
            return Verdict(**about, passed=False, error="no steps to check")
        try:
            judged = judge_lines(lines, reference)
        except CannotJudge as why:
            return Verdict(**about, passed=False, error=str(why))
        correct = [c for c, _ in judged]
        shown_all = sum(c for c, line in zip(correct, lines) if parse_step(line)) == sum(reference.steps.values())
        passed = all(correct) and shown_all and parse_answer(lines[-1]) is not None
        details = {"steps": [{"line": line[:MAX_LINE_CHARS], "correct": c, "reason": why}
                             for line, (c, why) in zip(lines, judged)],
                   "prefix_correct": prefix_flags(correct)}
        return Verdict(**about, passed=passed, score=sum(correct) / len(correct), details=details)
