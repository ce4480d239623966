"""Generation backends behind one small protocol.

A backend is imported only when chosen, so `import pipeline` never pulls torch.
vLLM, SGLang, TGI or llama.cpp run as servers behind `openai_compat` (README).
Wrapping a generator in a Ray actor is `pipeline.engine.actors`' job, not the backend's.
"""
from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from pipeline.generators.chat import Prompt
from pipeline.core.registry import lookup
from pipeline.core.types import Completion, SamplingParams


@runtime_checkable
class Generator(Protocol):
    def generate(self, prompts: list[Prompt], params: SamplingParams,
                 logits_processors: list | None = None) -> list[list[Completion]]:
        """For each prompt (a string, or chat messages: see generators/chat.py), `params.n`
        completions. Backends that cannot run logits processors (remote servers) raise
        ValueError when given some."""
        ...


# name -> "module:factory"; the factory takes the backend's keyword options.
BACKENDS: dict[str, str] = {
    "hf": "pipeline.generators.hf:HFGenerator",
    "openai_compat": "pipeline.generators.openai_compat:OpenAICompatGenerator",
    "diffusers": "pipeline.generators.diffusion:DiffusionGenerator",
    "quiet_star": "pipeline.generators.quiet_star:QuietStarGenerator",
}


def make_generator(backend: str, **options: Any) -> Generator:
    module_name, attr = lookup(BACKENDS, backend, "generator backend").split(":")
    return getattr(importlib.import_module(module_name), attr)(**options)
