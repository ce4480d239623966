"""ttc: a Ray-orchestrated test-time-compute pipeline.

Importing `pipeline` stays cheap: torch, transformers, docker and ray load lazily.
"""
from pipeline.types import Candidate, Completion, ExecutionResult, Limits, SamplingParams, Selection, Task, Verdict

__version__ = "0.1.0"

__all__ = [
    "Candidate", "Completion", "ExecutionResult", "Limits", "SamplingParams",
    "Selection", "Task", "Verdict", "__version__",
]
