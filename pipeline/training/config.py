"""`ttc train` configuration: YAML under configs/train/ (configs/*.yaml are run configs), overridable with dotted keys.

Validation names the field, the bad value and what is allowed; nothing here reads files except
`load_train_config`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.core.config import TasksConfig, apply_overrides, read_yaml, validated
from pipeline.training.registry import METHODS, NEEDS_RUN_DIR


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseModelConfig(_Section):
    path: str = Field("models/tiny-math", description="transformers folder of the model to fine-tune")


class DataConfig(_Section):
    run_dir: str | None = Field(None, description="run directory (of `ttc run` over TRAIN-split tasks) whose "
                                "passing samples are the data of sft_verified and dco")
    max_examples: int | None = Field(None, ge=1, le=10_000_000, description="first N passing samples only")


class DCOConfig(_Section):
    n: int = Field(64, ge=1, le=1_000_000, description="the sample budget N whose coverage the loss "
                   "optimises: -log(1 - (1 - p)^N); N=1 is cross-entropy")


class RLConfig(_Section):
    tasks: TasksConfig = Field(default_factory=lambda: TasksConfig(source="arith_word", split="train", limit=512),
                               description="prompts to sample from; must be the train split")
    prompts_per_step: int = Field(4, ge=1, le=4096)
    samples_per_prompt: int = Field(16, ge=2, le=4096, description="a group per prompt: the baseline is its mean")
    temperature: float = Field(0.8, gt=0.0, le=5.0)
    max_new_tokens: int = Field(64, ge=1, le=32768)
    advantage: Literal["mean_baseline", "grpo"] = Field("mean_baseline", description="reward minus the task's "
                                                        "mean (REINFORCE), or that over the task's std (GRPO)")
    verifier: str = Field("exact_answer", description="the task kind's verifier; one that needs no sandbox")
    verifier_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tasks")
    @classmethod
    def _train_split_only(cls, tasks: TasksConfig) -> TasksConfig:
        if tasks.split != "train":
            raise ValueError("RL prompts must come from the train split (the test split is for evaluation)")
        return tasks


class OptimConfig(_Section):
    steps: int = Field(100, ge=1, le=1_000_000)
    batch_size: int = Field(16, ge=1, le=65_536, description="sequences per step (sft_verified, dco)")
    lr: float = Field(3e-4, gt=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    grad_clip: float = Field(1.0, gt=0.0, le=1e6)


class ScalingConfig(_Section):
    num_workers: int = Field(1, ge=1, le=4096, description="Ray Train workers (data parallel)")
    use_gpu: bool = Field(False, description="one GPU per worker")
    threads: int = Field(1, ge=1, le=256, description="torch threads per CPU worker")


class TrainConfig(_Section):
    name: str = Field("train", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    method: str = Field("sft_verified", description="training method, see pipeline.training.registry.METHODS")
    model: BaseModelConfig = Field(default_factory=BaseModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    dco: DCOConfig = Field(default_factory=DCOConfig)
    rl: RLConfig = Field(default_factory=RLConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    checkpoint_every: int | None = Field(None, ge=1, le=1_000_000, description="also keep a checkpoint every "
                                         "this many steps (under OUT/checkpoints/step-N)")
    out_dir: str | None = Field(None, description="checkpoint folder; default runs/train-<name>-<time>")

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in METHODS:
            raise ValueError(f"unknown training method {method!r}; valid: {', '.join(sorted(METHODS))}")
        return method

    @model_validator(mode="after")
    def _data_for_method(self) -> "TrainConfig":
        if self.method in NEEDS_RUN_DIR and not self.data.run_dir:
            raise ValueError(f"data.run_dir is required for method {self.method!r} (a run over train-split tasks)")
        return self


def build_train_config(data: dict, source: str = "train config") -> TrainConfig:
    return validated(TrainConfig, data, source)


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    data = apply_overrides(read_yaml(path) if path else {}, overrides or [])
    return build_train_config(data, source=str(path) if path else "train config")
