"""ttc: a Ray-orchestrated test-time-compute pipeline.

Importing `pipeline` stays cheap: torch, transformers, docker and ray load lazily.
"""
from pipeline.core.types import Candidate, Completion, ExecutionResult, Limits, SamplingParams, Selection, Task, Verdict
from pipeline.core.version import __version__

__all__ = [
    "Client", "Candidate", "Completion", "ExecutionResult", "Limits", "SamplingParams",
    "Selection", "Task", "Verdict", "__version__",
]


def __getattr__(name: str):
    if name == "Client":  # the SDK, loaded on first use
        from pipeline.interfaces.sdk import Client

        return Client
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
