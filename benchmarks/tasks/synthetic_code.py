"""Synthetic code tasks: write a small Python function from a spec and input/output examples.

Each task is a program composed of 1-3 primitives from a small DSL over lists of ints, strings
or ints (e.g. "add a number to each item, keep the even ones, return the sum"). Some constants
are left out of the spec and must be inferred from the examples, which is what makes one
sample unreliable and many samples useful.

Prompt (what the model sees), always ending with the `def` line:

    # Add some number to each item, keep items greater than 4, return the sum.
    # f([1, 5, 2]) == 9
    # f([7, 0]) == 10
    def f(xs):

Candidate program = the prompt's last line (the `def` line) + the completion, cut at the first
of STOP_SEQUENCES and at the first non-indented non-empty line (the function ends there).
Use `candidate_program(task, completion)` so that every user forms it the same way.

Tests (`Task.tests`) are a standalone script: `from solution import f`, then asserts on the
shown and hidden cases (a candidate calling exit() fails; one calling os._exit(0) is the
verifier's to catch); the verifier writes the candidate to `solution.py`, the tests to
`test_solution.py`, and runs `python3 test_solution.py` (exit code 0 = pass).

Train/test split is by program identity, taken as behaviour: the hash of the program's outputs
on fixed probe inputs. A program is in the test split iff that hash falls in the test bucket,
so no test program (nor any program that behaves like one) appears in training, whatever the
seed. Within a split each behaviour appears once.
"""
from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from typing import Callable

from agents.base import function_body
from pipeline.core.types import Task

STOP_SEQUENCES = ["\ndef ", "\n#", "\nif __name__", "\nprint(", "\nassert ", "\nclass "]
ENTRY_POINT = "f"
TEST_PERCENT = 20  # share of program identities reserved for the test split
P_HIDE_CONSTANT = 0.5  # chance that a primitive's constant is left out of the spec
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Step:
    """One primitive: a line of code and its description (with and without the constant)."""

    code: str
    said: str
    unsaid: str
    constant: bool = True


def _list_maps(rng: random.Random) -> Step:
    k = rng.randint(1, 5)
    options = [
        Step(f"xs = [x + {k} for x in xs]", f"add {k} to each item", "add some number to each item"),
        Step(f"xs = [x - {k} for x in xs]", f"subtract {k} from each item", "subtract some number from each item"),
        Step(f"xs = [x * {k + 1} for x in xs]", f"multiply each item by {k + 1}", "multiply each item by some number"),
        Step(f"xs = [x % {k + 1} for x in xs]", f"take each item modulo {k + 1}", "take each item modulo some number"),
        Step(f"xs = [x // {k + 1} for x in xs]", f"floor-divide each item by {k + 1}", "floor-divide each item by some number"),
        Step("xs = [x * x for x in xs]", "square each item", "square each item", False),
    ]
    return rng.choice(options)


def _list_filters(rng: random.Random) -> Step:
    k = rng.randint(1, 6)
    options = [
        Step(f"xs = [x for x in xs if x > {k}]", f"keep items greater than {k}", "keep items greater than some number"),
        Step(f"xs = [x for x in xs if x < {k}]", f"keep items less than {k}", "keep items less than some number"),
        Step(f"xs = [x for x in xs if x != {k}]", f"drop items equal to {k}", "drop items equal to some number"),
        Step("xs = [x for x in xs if x % 2 == 0]", "keep the even items", "keep the even items", False),
        Step("xs = [x for x in xs if x % 2 == 1]", "keep the odd items", "keep the odd items", False),
    ]
    return rng.choice(options)


def _list_ends(_rng: random.Random) -> Step:
    options = [
        Step("return sum(xs)", "return the sum", "return the sum", False),
        Step("return len(xs)", "return how many are left", "return how many are left", False),
        Step("return sorted(xs)", "return them sorted", "return them sorted", False),
        Step("return xs[::-1]", "return them reversed", "return them reversed", False),
        Step("return xs", "return the list", "return the list", False),
    ]
    return _rng.choice(options)


def _string_ops(rng: random.Random) -> Step:
    a, b = rng.sample("abcdeilmnorst", 2)
    k = rng.randint(1, 3)
    options = [
        Step("s = s.upper()", "uppercase it", "uppercase it", False),
        Step("s = s[::-1]", "reverse it", "reverse it", False),
        Step(f's = s.replace("{a}", "{b}")', f'replace "{a}" with "{b}"', "replace one letter with another"),
        Step('s = "".join(c for c in s if c not in "aeiou")', "remove the vowels", "remove the vowels", False),
        Step("s = s + s", "repeat it twice", "repeat it twice", False),
        Step(f"s = s[{k}:]", f"drop the first {k} letters", "drop some letters at the start"),
        Step(f"s = s[:-{k}]", f"drop the last {k} letters", "drop some letters at the end"),
    ]
    return rng.choice(options)


def _string_ends(rng: random.Random) -> Step:
    a = rng.choice("aeilnorst")
    options = [
        Step("return s", "return it", "return it", False),
        Step("return len(s)", "return its length", "return its length", False),
        Step(f'return s.count("{a}")', f'return how many "{a}" it has', "return how many times some letter appears"),
    ]
    return rng.choice(options)


def _int_ops(rng: random.Random) -> Step:
    k = rng.randint(2, 9)
    options = [
        Step(f"n = n + {k}", f"add {k}", "add some number"),
        Step(f"n = n - {k}", f"subtract {k}", "subtract some number"),
        Step(f"n = n * {k}", f"multiply by {k}", "multiply by some number"),
        Step(f"n = n % {k}", f"take it modulo {k}", "take it modulo some number"),
        Step(f"n = n // {k}", f"floor-divide by {k}", "floor-divide by some number"),
        Step("n = n * n", "square it", "square it", False),
        Step("n = sum(int(d) for d in str(abs(n)))", "sum its digits", "sum its digits", False),
    ]
    return rng.choice(options)


def _int_ends(_rng: random.Random) -> Step:
    return Step("return n", "return it", "return it", False)


@dataclass(frozen=True)
class Family:
    arg: str
    ops: tuple[Callable[[random.Random], Step], ...]
    end: Callable[[random.Random], Step]
    make_input: Callable[[random.Random], object]


def _list_input(rng: random.Random) -> list[int]:
    return [rng.randint(-3, 12) for _ in range(rng.randint(2, 6))]


def _string_input(rng: random.Random) -> str:
    return "".join(rng.choice("abcdeilmnorstu") for _ in range(rng.randint(4, 8)))


def _int_input(rng: random.Random) -> int:
    return rng.randint(-20, 99)


_probe_rng = random.Random("synthetic_code/probes")
PROBES = {  # fixed inputs that fingerprint a program's behaviour, per argument name
    "xs": [_list_input(_probe_rng) for _ in range(24)] + [[], [0], [-5, 5, 10, 15, 20, 25, 30]],
    "s": [_string_input(_probe_rng) for _ in range(24)] + ["aeiou", "abcdefghijklmnopqrstuvwxyz", "x"],
    "n": list(range(-30, 130, 3)),
}

FAMILIES = {
    "list": Family("xs", (_list_maps, _list_filters), _list_ends, _list_input),
    "string": Family("s", (_string_ops,), _string_ends, _string_input),
    "int": Family("n", (_int_ops,), _int_ends, _int_input),
}


def _sample_steps(family: Family, rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    for _ in range(rng.randint(1, 2)):
        step = rng.choice(family.ops)(rng)
        if not steps or step.code != steps[-1].code:
            steps.append(step)
    return steps + [family.end(rng)]


def reference_source(arg: str, steps: list[Step]) -> str:
    body = "".join(f"    {step.code}\n" for step in steps)
    return f"def {ENTRY_POINT}({arg}):\n{body}"


@functools.lru_cache(maxsize=None)  # the same source is sampled many times
def program_id(source: str) -> str:
    """The identity the split is made on: what the program does (its outputs on fixed probe
    inputs), so programs written differently but behaving the same share one split."""
    arg = source.split("(", 1)[1].split(")", 1)[0]
    outputs = _run_reference(source, PROBES[arg])
    return hashlib.sha256(f"{arg}:{outputs!r}".encode()).hexdigest()[:16]


def split_of(source: str) -> str:
    return split_of_id(program_id(source))


def split_of_id(identity: str) -> str:
    return "test" if int(identity, 16) % 100 < TEST_PERCENT else "train"


def _run_reference(source: str, inputs: list[object]) -> list[object] | None:
    namespace: dict = {}
    exec(source, namespace)  # our own generated source, never model output
    try:
        return [namespace[ENTRY_POINT](_copy(x)) for x in inputs]
    except (ValueError, ZeroDivisionError, IndexError):
        return None


def _copy(value: object) -> object:
    return list(value) if isinstance(value, list) else value


def _spec_line(steps: list[Step], rng: random.Random) -> tuple[str, int]:
    """The spec sentence and how many constants it leaves out."""
    hide = [step.constant and rng.random() < P_HIDE_CONSTANT for step in steps]
    text = ", ".join(step.unsaid if hidden else step.said for step, hidden in zip(steps, hide))
    return text[0].upper() + text[1:] + ".", sum(hide)


def _prompt(spec: str, arg: str, shown: list[tuple[object, object]]) -> str:
    lines = [f"# {spec}"] + [f"# {ENTRY_POINT}({x!r}) == {y!r}" for x, y in shown]
    return "\n".join(lines) + f"\ndef {ENTRY_POINT}({arg}):\n"


def _tests(cases: list[tuple[object, object]]) -> str:
    # SystemExit is turned into a failure: a candidate that calls exit(0) must not pass
    return (
        "import sys\n\n"
        "try:\n"
        f"    from solution import {ENTRY_POINT}\n\n"
        f"    CASES = {cases!r}\n"
        "    for arg, want in CASES:\n"
        f"        got = {ENTRY_POINT}(arg)\n"
        f"        assert got == want, f'{ENTRY_POINT}({{arg!r}}) returned {{got!r}}, expected {{want!r}}'\n"
        "except SystemExit as stop:\n"
        "    sys.exit(f'FAIL: the solution called exit({stop.code!r})')\n"
    )


def _make_task(rng: random.Random, split: str, seen: set[str]) -> Task | None:
    family_name = rng.choice(sorted(FAMILIES))
    family = FAMILIES[family_name]
    steps = _sample_steps(family, rng)
    source = reference_source(family.arg, steps)
    identity = program_id(source)
    if split_of_id(identity) != split or identity in seen:
        return None
    inputs = [family.make_input(rng) for _ in range(8)]
    outputs = _run_reference(source, inputs)
    if outputs is None or len({repr(y) for y in outputs}) < 4:
        return None  # degenerate: examples would not pin the program down
    cases = list(zip(inputs, outputs))
    spec, hidden = _spec_line(steps, rng)
    return Task(
        id=f"code-{split}-{identity}",
        kind="code",
        prompt=_prompt(spec, family.arg, cases[:3]),
        entry_point=ENTRY_POINT,
        tests=_tests(cases),
        metadata={"solution": source, "program_id": identity, "split": split,
                  "family": family_name, "hidden_constants": hidden, "stop": STOP_SEQUENCES,
                  # the shown examples only: an imperfect verifier (overfit programs pass it)
                  "visible_tests": _tests(cases[:3]),
                  # inputs without outputs, for voting over what programs do (not their text)
                  "probe_inputs": [repr((x,)) for x in PROBES[family.arg][:8]]},
    )


def make_tasks(split: str, n: int | None = None, seed: int = 0) -> list[Task]:
    """`n` distinct programs of `split` ("train" or "test"); default 200 test / 20000 train."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    n = n if n is not None else (200 if split == "test" else 20000)
    rng = random.Random(f"synthetic_code/{split}/{seed}")
    tasks: dict[str, Task] = {}
    attempts = 0
    while len(tasks) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise RuntimeError(f"could only make {len(tasks)} distinct {split} programs of {n} asked")
        task = _make_task(rng, split, seen=tasks.keys())
        if task is not None:
            tasks[task.metadata["program_id"]] = task
    return list(tasks.values())


def cut_at_stop(text: str, stops: list[str] = STOP_SEQUENCES) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def candidate_program(task: Task, completion: str) -> str:
    """The program a completion stands for: the prompt's `def` line + the cut completion."""
    def_line = task.prompt.rstrip("\n").rsplit("\n", 1)[-1]
    return f"{def_line}\n{function_body(cut_at_stop(completion)).rstrip()}\n"


def reference_completion(task: Task) -> str:
    """What a perfect model would write after the prompt: the reference body."""
    return task.metadata["solution"].split("\n", 1)[1]
