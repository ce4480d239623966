"""Boundary models: the only objects that cross actor, process and disk boundaries.

Imports nothing of ttc. Inside modules, plain Python; at the edges, these.
"""
from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskKind = Literal["code", "math", "text", "image", "repo"]
FinishReason = Literal["stop", "length", "eos", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Task(_Model):
    """One problem. `tests` is Python test code run beside the candidate (code tasks);
    `answer` is the reference final answer (math/text tasks)."""

    id: str = Field(min_length=1, description="unique id within a task set")
    kind: TaskKind = Field("code", description="what a candidate is: a program or an answer")
    prompt: str = Field(min_length=1, description="what the generator is shown")
    entry_point: str | None = Field(None, description="function the tests call (code tasks)")
    tests: str | None = Field(None, description="Python test code; exit code 0 means pass")
    answer: str | None = Field(None, description="reference answer (math/text tasks)")
    files: dict[str, str] = Field(default_factory=dict, description="extra files for the sandbox workspace")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path in files:
            if path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"file path {path!r} must be relative and stay inside the workspace")
        return files


class SamplingParams(_Model):
    n: int = Field(1, ge=1, le=4096, description="samples per prompt")
    temperature: float = Field(1.0, ge=0.0, le=10.0, description="0 means greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 disables top-k")
    max_new_tokens: int = Field(256, ge=1, le=32768)
    stop: list[str] = Field(default_factory=list, description="cut the text at the first of these")
    seed: int | None = Field(None, description="same seed, same samples (on CPU)")
    logprobs: bool = Field(False, description="return per-token logprobs")


class Completion(_Model):
    text: str
    token_ids: list[int] = Field(default_factory=list)
    cumulative_logprob: float = 0.0
    token_logprobs: list[float] | None = None
    finish_reason: FinishReason = "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Trajectory(_Model):
    """One sample of a strategy for a task: the completion plus how it was made."""

    task_id: str
    sample_index: int = Field(ge=0)
    completion: Completion
    seed: int | None = None
    generation_s: float = 0.0
    steps: list[dict[str, Any]] = Field(default_factory=list, description="multi-turn strategies log here")


class Candidate(_Model):
    """What a verifier judges: a program (code tasks) or a final answer (math tasks)."""

    task_id: str
    sample_index: int = Field(ge=0)
    content: str = Field(description="the extracted program or answer")
    key: str = Field("", description="hash of the normalised content; equal keys are judged once")

    def model_post_init(self, _context: Any) -> None:
        if not self.key:
            self.key = content_key(self.content)


class ExecutionResult(_Model):
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    truncated: bool = False
    oom: bool = False
    duration_s: float = 0.0
    error: str | None = Field(None, description="infrastructure failure, not the program's")
    peer_exit_code: int | None = Field(None, description="exit code of the peer process, when one ran")
    peer_output: str = Field("", description="the peer process's stdout and stderr, capped")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.oom or self.error)


class Verdict(_Model):
    task_id: str
    candidate_key: str
    verifier: str
    passed: bool
    score: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(None, description="the verifier itself failed; never counted as a pass")

    @property
    def accepted(self) -> bool:
        """Passed, and the verifier itself did not fail."""
        return self.passed and self.error is None


class Selection(_Model):
    task_id: str
    selector: str
    candidate_key: str | None = Field(None, description="None when the selector abstained")
    content: str | None = None
    abstained: bool = False
    margin: float = 0.0
    correct: bool | None = Field(None, description="ground truth, when the run knows it")


class Limits(_Model):
    """Per-execution resource limits of the sandbox (re-exported as `sandbox.Limits`)."""

    timeout_s: float = Field(10.0, gt=0, le=3600, description="wall clock per execution")
    memory_mb: int = Field(512, ge=32, le=65536, description="container memory cap")
    cpus: float = Field(1.0, gt=0, le=64, description="CPU quota per container")
    pids: int = Field(128, ge=8, le=65536, description="max processes per container")
    output_bytes: int = Field(1_000_000, ge=1024, description="stdout+stderr cap per stream")
    tmpfs_mb: int = Field(64, ge=1, le=8192, description="size of /tmp and the workspace")
    network: bool = Field(False, description="False: no network at all")
    runtime: str | None = Field(None, description="OCI runtime, e.g. runsc for gVisor")
    python_zygote: bool = Field(
        True, description="run `python3 -c CODE` / `python3 SCRIPT` by forking an interpreter "
                          "started once per container (sandbox/zygote.py), not a fresh python3")


class RunResult(_Model):
    run_dir: str
    tasks: int
    samples: int
    summary: dict[str, Any] = Field(default_factory=dict)
    selections: list[Selection] = Field(default_factory=list)


def normalise_code(text: str) -> str:
    """Whitespace- and comment-insensitive form used for dedup keys."""
    lines = []
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].rstrip() if "#" in line and "'" not in line and '"' not in line else line.rstrip()
        if stripped.strip():
            lines.append(stripped)
    return "\n".join(lines).strip()


def content_key(content: str) -> str:
    return hashlib.sha256(normalise_code(content).encode()).hexdigest()[:16]
