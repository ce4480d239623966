"""The training-method extension point: one Protocol and a registry from a short name to the
import path of a factory `(config, policy, tokenizer, rank) -> TrainingMethod`.

Names live here without importing torch, so a config validates before anything heavy loads.
"""
from __future__ import annotations

import importlib
from typing import Any, Protocol

from pipeline.core.registry import lookup


class TrainingMethod(Protocol):
    """One training step's loss. `loss(model, step)` returns the scalar to minimise and plain
    numbers to log; among them `samples_drawn` (fresh samples it generated this step) and
    `train_tokens` (completion tokens it took gradients through), the compute it spent."""

    def loss(self, model: Any, step: int) -> tuple[Any, dict[str, float]]: ...


METHODS: dict[str, str] = {
    "sft_verified": "pipeline.training.sft:VerifiedSFT",
    "dco": "pipeline.training.sft:CoverageFineTune",
    "rl_verifier": "pipeline.training.rl:VerifierPolicyGradient",
}
NEEDS_RUN_DIR = ("sft_verified", "dco")  # learn from a run's passing samples; rl_verifier samples its own


def make_method(name: str, **deps: Any) -> TrainingMethod:
    module_name, attr = lookup(METHODS, name, "training method").split(":")
    return getattr(importlib.import_module(module_name), attr)(**deps)
