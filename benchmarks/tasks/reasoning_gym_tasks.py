"""reasoning-gym's seeded problem generators (Apache-2.0) as ttc math/text Tasks.

Source name `reasoning_gym:<dataset>`, e.g. `reasoning_gym:gsm_symbolic` (GSM8K-derived
templates) or `reasoning_gym:basic_arithmetic`. `tasks.seed` seeds the generator, `tasks.limit`
is the number of problems (default DEFAULT_SIZE); the same seed gives the same problems.
`tasks.split` is not used: every seed is a fresh draw from the generator.

Scoring: the reference answer goes to Task.answer and the `exact_answer` verifier compares
normalised final answers (pipeline/judging/answers.py). reasoning-gym's own scorers differ:
- the default scorer gives 1.0 for an identical string and partial credit len(ref)/len(answer)
  when the reference is a substring ("44 pebbles" -> 0.18); here only an exact match passes.
- gsm_symbolic's scorer reads the first number of the answer as a float: "44 pebbles" passes
  there and fails here, "$1,000" passes here and fails there (it reads 1).
Metadata keeps (dataset, seed, size, index) so `reasoning_gym_score` can regenerate the entry
and ask the dataset's own scorer, to compare the two on real outputs.
"""
from __future__ import annotations

from benchmarks.tasks.prompts import boxed_answer_chat
from pipeline.core.types import Task

DEFAULT_SIZE = 100
PROMPT = "Question: {question}\nAnswer: Let's think step by step.\n"
STOP_SEQUENCES = ["\nQuestion:"]


def _reasoning_gym():
    try:
        import reasoning_gym
    except ImportError:
        raise ImportError("reasoning_gym task sources need the `reasoning-gym` package: "
                          "pip install reasoning-gym==0.1.25") from None
    return reasoning_gym


def make_dataset(name: str, size: int, seed: int):
    reasoning_gym = _reasoning_gym()
    from pipeline.core.registry import lookup

    lookup(reasoning_gym.factory.DATASETS, name, "reasoning_gym dataset")  # names the valid ones
    return reasoning_gym.create_dataset(name, size=size, seed=seed)


def to_task(name: str, seed: int, size: int, index: int, entry: dict) -> Task:
    kind = "math" if _is_number(entry["answer"]) else "text"
    return Task(id=f"rg-{name}-s{seed}-{index}", kind=kind, prompt=PROMPT.format(question=entry["question"]),
                answer=str(entry["answer"]),
                metadata={"source": f"reasoning_gym:{name}", "stop": STOP_SEQUENCES,
                          "chat": boxed_answer_chat(entry["question"]),
                          "rg_dataset": name, "rg_seed": seed, "rg_size": size, "rg_index": index})


def load_reasoning_gym(name: str, seed: int = 0, limit: int | None = None) -> list[Task]:
    size = limit or DEFAULT_SIZE
    dataset = make_dataset(name, size, seed)
    return [to_task(name, seed, size, i, dataset[i]) for i in range(size)]


def reasoning_gym_score(task: Task, answer: str | None) -> float:
    """The dataset's own score (0..1) of `answer` for the entry `task` was made from."""
    meta = task.metadata
    dataset = make_dataset(meta["rg_dataset"], meta["rg_size"], meta["rg_seed"])
    return float(dataset.score_answer(answer, dataset[meta["rg_index"]]))


def _is_number(text: str) -> bool:
    try:
        float(str(text).replace(",", ""))
    except ValueError:
        return False
    return True
