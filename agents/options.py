"""What a strategy accepts and what it can run on, declared next to each strategy.

Each agent class has an `Options` model (a `StrategyOptions`): its constructor's keyword options
with bounds, so `strategy_options` are checked before any work instead of failing a run's chunks
(or running without limit). A field may name the `ttc serve` limit that caps it
(`cap="max_turns"`), or say that it is a path on the machine that runs it (`server_path=True`),
which an HTTP client must not choose. The class variables say which task kinds and generator
backends the strategy can take, so a mismatch is refused up front too.
"""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pipeline.core.types import Task

TEXT_BACKENDS = ("hf", "openai_compat", "quiet_star")
# backends that run logits processors inside their decode loop (remote servers cannot)
PROCESSOR_BACKENDS = ("hf", "quiet_star")


def option(default: Any, description: str, cap: str | None = None, server_path: bool = False, **bounds: Any):
    """A field; `cap` names the ServeLimits field that bounds it over HTTP."""
    extra = {k: v for k, v in (("cap", cap), ("server_path", server_path)) if v}
    return Field(default, description=description, json_schema_extra=extra or None, **bounds)


class StrategyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_kinds: ClassVar[tuple[str, ...]] = ("code", "math", "text")
    backends: ClassVar[tuple[str, ...]] = TEXT_BACKENDS
    # the task's prompt goes to a text model as is, so it must fit the model's context
    sends_prompt: ClassVar[bool] = True

    def needed_backends(self) -> tuple[str, ...]:
        """Backends these options can run on (an option may narrow the class's)."""
        return self.backends

    def task_problem(self, task: Task) -> str | None:
        """Why these options cannot work on `task` beyond its kind (a missing repository, say), or None."""
        return None

    def worst_case_tokens(self, n: int, max_new_tokens: int, chunk_size: int | None = None) -> int:
        """Most tokens one request of `n` samples may generate (thoughts and turns included),
        the engine running it in chunks of `chunk_size` samples."""
        return n * max_new_tokens

    @classmethod
    def field_extra(cls, name: str) -> dict[str, Any]:
        extra = cls.model_fields[name].json_schema_extra
        return extra if isinstance(extra, dict) else {}
