"""Run configuration: YAML under configs/, overridable with dotted keys (`sampling.n=64`).

Validation errors name the field path, the bad value and what is allowed. No I/O
happens in the models themselves; `load_config` is the only function that reads files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.types import Limits, SamplingParams


_Validated = TypeVar("_Validated", bound=BaseModel)


class ConfigError(ValueError):
    """A config or task file is invalid; the message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TasksConfig(_Section):
    source: str = Field("synthetic_code", description="task set name, see pipeline.engine.tasks.TASK_SOURCES")
    split: Literal["train", "test"] = Field("test", description="which fixed-seed split")
    limit: int | None = Field(None, ge=1, description="first N tasks only")
    path: str | None = Field(None, description="JSONL file of tasks (source: jsonl)")
    seed: int = Field(0, description="seed of seeded task generators")


# What each generator backend takes: `model.` fields and `model.options` keys (the backend's own
# keyword options; pipeline.engine.actors.generator_options passes both). Core cannot import the
# backends, so tests/generators/test_backends.py holds this against their signatures.
MODEL_FIELD_OPTIONS = ("base_url", "device", "dtype", "max_batch_size")
_LOCAL = ("device", "dtype", "max_batch_size")
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {
    "hf": (*_LOCAL, "memory_budget_mb", "batch_wait_ms"),
    "openai_compat": ("base_url", "max_batch_size", "api_key_env", "timeout_s", "max_retries", "chat", "backoff_s"),
    "quiet_star": _LOCAL,
    "diffusers": (*_LOCAL, "steps", "eta", "guidance"),
}


class ModelConfig(_Section):
    backend: str = Field("hf", description="generator backend: hf, openai_compat, quiet_star, diffusers")
    path: str = Field("models/tiny-coder", description="local model folder, or a model name for openai_compat")
    base_url: str | None = Field(None, description="server URL (openai_compat)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_batch_size: int = Field(64, ge=1, le=4096, description="sequences decoded together (openai_compat: "
                                "requests in flight)")
    options: dict[str, Any] = Field(default_factory=dict, description="the backend's own options, see BACKEND_OPTIONS")

    @model_validator(mode="after")
    def _options_fit_backend(self) -> "ModelConfig":
        takes = BACKEND_OPTIONS.get(self.backend)
        if takes is None:  # a backend registered at run time: make_generator checks its name
            return self
        # a field at its default is not a choice (a dumped and reloaded config repeats them all)
        chosen = [f for f in MODEL_FIELD_OPTIONS if getattr(self, f) != type(self).model_fields[f].default]
        given = chosen + [f"options.{k}" for k in self.options]
        allowed = [f for f in takes if f in MODEL_FIELD_OPTIONS] + [f"options.{k}" for k in takes
                                                                    if k not in MODEL_FIELD_OPTIONS]
        foreign = [name for name in given if name not in allowed]
        if foreign:
            raise ValueError(f"backend {self.backend!r} does not take {', '.join(foreign)}; it takes "
                             f"{', '.join(allowed)}")
        if self.backend == "openai_compat" and not self.base_url:
            raise ValueError("backend 'openai_compat' needs base_url, e.g. http://127.0.0.1:8000/v1")
        return self


class SandboxConfig(_Section):
    image: str = Field("ttc-sandbox:base", description="Docker image of the sandbox")
    pool_size: int = Field(2, ge=1, le=256, description="warm containers per pool actor")
    runtime: Literal["runc", "gvisor"] = Field("runc", description="container runtime: runc (Docker's "
                                               "default) or gvisor (runsc: a second kernel between the "
                                               "candidate and the host)")
    limits: Limits = Field(default_factory=Limits)


class RunnerConfig(_Section):
    generator_actors: int = Field(1, ge=1, le=1024)
    sandbox_actors: int = Field(1, ge=1, le=1024)
    max_in_flight: int = Field(64, ge=1, le=100_000, description="samples generated but not yet verified")
    chunk_size: int = Field(8, ge=1, le=4096, description="samples of one task per generator call")
    output_dir: str = Field("runs", description="parent folder of run directories")
    retries: int = Field(2, ge=0, le=20, description="retries of a failed actor call")
    shards: int | None = Field(None, ge=0, le=1024, description="orchestrator shard actors, each driving a "
                               "slice of the tasks; 0: the driver drives every task itself; None: one per "
                               "alive node on a multi-node cluster, else 0")


class BudgetConfig(_Section):
    max_samples_per_task: int | None = Field(None, ge=1)
    max_tokens_per_task: int | None = Field(None, ge=1)
    max_samples_total: int | None = Field(None, ge=1, description="run-wide cap on samples scheduled")
    max_tokens_total: int | None = Field(None, ge=1, description="run-wide cap on completion tokens")
    early_stop: bool = Field(False, description="stop a task once its selection is settled")
    exact_verifier: bool = Field(True, description="the verifier is ground truth: one pass settles a task")


class RunConfig(_Section):
    name: str = Field("run", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    strategy: str = Field("repeated_sampling", description="agent name")
    strategy_options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the agent")
    verifier: str = Field("unit_tests", description="verifier name")
    selectors: list[str] = Field(default_factory=lambda: ["majority_vote", "first_passing"], min_length=1)
    selector_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="selector name -> options")
    verifier_options: dict[str, Any] = Field(default_factory=dict, description="options of the verifier")
    oracle: str | None = Field(None, description="ground-truth verifier when `verifier` is imperfect "
                               "(e.g. verifier: reward_model, oracle: unit_tests); None: the verifier is ground truth")
    oracle_options: dict[str, Any] = Field(default_factory=dict)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    canaries: bool = Field(True, description="judge a few known-bad candidates per task through the verifier "
                           "(not samples); summary.json reports their pass rate, and a pass is a warning")

    @model_validator(mode="after")
    def _source_needs_path(self) -> "RunConfig":
        if self.tasks.source == "jsonl" and not self.tasks.path:
            raise ValueError("tasks.path is required when tasks.source is 'jsonl'")
        return self

    @model_validator(mode="after")
    def _oracle_is_another_verifier(self) -> "RunConfig":
        # verdicts are kept (and resumed) by verifier name: one name cannot be both
        if self.oracle == self.verifier and self.oracle_options != self.verifier_options:
            raise ValueError(f"oracle {self.oracle!r} is the verifier's name with other options; the oracle "
                             "must be a different verifier (e.g. digit_classifier_heldout), or drop it")
        return self


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        value = e.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{path or '<root>'}: {e['msg']} (got {shown})")
    return "; ".join(lines)


def parse_override(override: str) -> tuple[list[str], Any]:
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.sub=value")
    key, raw = override.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {override!r} has an empty key part")
    return key.split("."), yaml.safe_load(raw) if raw else ""


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for override in overrides:
        keys, value = parse_override(override)
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {key!r} is not a section")
        node[keys[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}")
    return data


def validated(model: type[_Validated], data: dict, source: str) -> _Validated:
    """`data` as `model`, or a ConfigError naming `source` and every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid {source}: {format_validation_error(err)}") from None


def build_config(data: dict, source: str = "config") -> RunConfig:
    return validated(RunConfig, data, source)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    data = read_yaml(path) if path else {}
    data = apply_overrides(data, overrides or [])
    return build_config(data, source=str(path) if path else "config")
