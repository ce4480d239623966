"""Boundary models: the only objects that cross actor, process and disk boundaries.

Imports nothing of ttc. Inside modules, plain Python; at the edges, these.
"""
from __future__ import annotations

import hashlib
import io
import re
import tokenize
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskKind = Literal["code", "math", "text", "image", "repo"]
# low_confidence: stopped mid-generation, its window confidence below the request's threshold
FinishReason = Literal["stop", "length", "eos", "error", "low_confidence"]
CONFIDENCE_MEASURES = ("mean", "lowest_window", "tail", "bottom_10")  # pipeline/generators/confidence.py
CONFIDENCE_MAX = 100.0  # minus the logprob floor there: no computed confidence exceeds it


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


TASK_ID_MAX = 128
_TASK_ID = re.compile(r"[A-Za-z0-9._:-]+")  # ASCII only: no separators, NUL or look-alike characters


class Task(_Model):
    """One problem. `tests` is Python test code run beside the candidate (code tasks);
    `answer` is the reference final answer (math/text tasks)."""

    id: str = Field(min_length=1, max_length=TASK_ID_MAX, description="unique id within a task set: letters, "
                    "digits and ._-: (no path separators: ids name files and travel in URLs and logs)")
    kind: TaskKind = Field("code", description="what a candidate is: a program or an answer")
    prompt: str = Field(min_length=1, description="what the generator is shown")
    entry_point: str | None = Field(None, description="function the tests call (code tasks)")
    tests: str | None = Field(None, description="Python test code; exit code 0 means pass")
    answer: str | None = Field(None, description="reference answer (math/text tasks)")
    files: dict[str, str] = Field(default_factory=dict, description="extra files for the sandbox workspace")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _plain_id(cls, task_id: str) -> str:
        if not _TASK_ID.fullmatch(task_id) or set(task_id) == {"."}:
            raise ValueError(f"task id {task_id[:40]!r} may hold only letters, digits and '._-:' "
                             f"(and not be only dots)")
        return task_id

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path in files:
            if path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"file path {path!r} must be relative and stay inside the workspace")
        return files


class ConfidenceParams(_Model):
    """How a backend measures a trace's confidence from its top-k logprobs, and when it stops one."""

    top_k: int = Field(5, ge=1, le=20, description="logprobs averaged per token (OpenAI servers give at most 20)")
    window: int = Field(16, ge=1, le=32768, description="tokens per group: the sliding window of group confidence")
    tail: int = Field(16, ge=1, le=32768, description="last tokens the tail measure averages")
    stop_below: float | None = Field(None, ge=0, description="stop a trace once a full window's mean confidence "
                                     "is below this (finish_reason low_confidence); None: never")


class SamplingParams(_Model):
    n: int = Field(1, ge=1, le=4096, description="samples per prompt")
    temperature: float = Field(1.0, ge=0.0, le=10.0, description="0 means greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 disables top-k")
    max_new_tokens: int = Field(256, ge=1, le=32768)
    stop: list[str] = Field(default_factory=list, description="cut the text at the first of these")
    seed: int | None = Field(None, description="same seed, same samples (on CPU)")
    logprobs: bool = Field(False, description="return per-token logprobs")
    confidence: ConfidenceParams | None = Field(None, description="record trace confidence (DeepConf) on each "
                                                "completion; None: none")


class Completion(_Model):
    text: str
    token_ids: list[int] = Field(default_factory=list)
    cumulative_logprob: float = 0.0
    token_logprobs: list[float] | None = None
    finish_reason: FinishReason = "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    confidence: dict[str, float] | None = Field(None, description="trace confidence measures (CONFIDENCE_MEASURES) "
                                                "when asked for and the backend saw the logprobs")
    token_cap: int | None = Field(None, description="the most tokens it could have had; set when stopped early")


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
    confidence: dict[str, float] | None = Field(None, description="its trajectory's confidence measures, copied "
                                                "from the completion by the strategy; None: not measured")
    stopped_early: bool = Field(False, description="its trajectory was stopped mid-generation for low "
                                "confidence: an unfinished answer, which confidence votes leave out")

    @field_validator("confidence")
    @classmethod
    def _measured_confidence(cls, confidence: dict[str, float] | None) -> dict[str, float] | None:
        if confidence is None:
            return None
        if set(confidence) != set(CONFIDENCE_MEASURES):
            raise ValueError(f"confidence must hold exactly {', '.join(CONFIDENCE_MEASURES)}")
        if not all(0.0 <= value <= CONFIDENCE_MAX for value in confidence.values()):  # NaN fails too
            raise ValueError(f"confidence values must be between 0 and {CONFIDENCE_MAX:g}")
        return confidence

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


class Peer(_Model):
    """A second program run beside an execution as another uid, joined to it by a socket only."""
    cmd: list[str] = Field(min_length=1)
    files: dict[str, str | bytes] = Field(default_factory=dict, description="written into the peer's own directory")


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
    warnings: list[str] = Field(default_factory=list, description="e.g. known-bad canaries the verifier passed")


_IGNORED_TOKENS = {tokenize.COMMENT, tokenize.NL}  # what Python skips
_END_TOKENS = {tokenize.NEWLINE, tokenize.DEDENT, tokenize.ENDMARKER}  # all implied at the end of input
# f-strings (3.12+) and t-strings (3.14+) are token runs, not one STRING token
_STRING_RUNS = {getattr(tokenize, start): getattr(tokenize, end)
                for start, end in (("FSTRING_START", "FSTRING_END"), ("TSTRING_START", "TSTRING_END"))
                if hasattr(tokenize, start)}


def normalise_code(text: str) -> str:
    """Comment-, blank-line- and trailing-whitespace-insensitive form of Python source, for
    dedup keys. Only what the tokenizer calls a comment or a blank line is dropped, and
    nothing inside a string changes, so programs that differ in any token or string literal
    never share a form. Text the tokenizer rejects (prose, LaTeX, broken code) is its own form."""
    tokens = _tokens(text)
    if tokens is None:
        return text
    normalised = _without_comments_and_blank_lines(text, tokens)
    # a guard, not a hope: the form must tokenize back to the very same program
    return normalised if _significant(_tokens(normalised)) == _significant(tokens) else text


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    """The token stream, or None where the tokenizer rejects the text."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError is a SyntaxError
        return None
    return None if any(t.type == tokenize.ERRORTOKEN for t in tokens) else tokens


def _significant(tokens: list[tokenize.TokenInfo] | None) -> list[tuple[int, str]] | None:
    """What a program is to Python: its tokens less comments and blank lines. A NEWLINE's
    text ("\\n", "\\r\\n" or "") does not matter, nor does one ending the input: 3.11's
    tokenizer omits it after a last line that starts with "#", even inside a string."""
    if tokens is None:
        return None
    kept = [(t.type, "" if t.type == tokenize.NEWLINE else t.string) for t in tokens if t.type not in _IGNORED_TOKENS]
    while kept and kept[-1][0] in _END_TOKENS:
        kept.pop()
    return kept


def _string_spans(tokens: list[tokenize.TokenInfo]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) of every string literal, an f-string's whole token run included."""
    spans, open_runs = [], []
    for t in tokens:
        if t.type == tokenize.STRING and not open_runs:
            spans.append((t.start, t.end))
        elif t.type in _STRING_RUNS:
            open_runs.append((t.start, _STRING_RUNS[t.type]))
        elif open_runs and t.type == open_runs[-1][1]:
            start, _ = open_runs.pop()
            if not open_runs:
                spans.append((start, t.end))
    return spans


def _without_comments_and_blank_lines(text: str, tokens: list[tokenize.TokenInfo]) -> str:
    spans = _string_spans(tokens)
    comment_starts = {t.start[0]: t.start[1] for t in tokens if t.type == tokenize.COMMENT
                      and not any(start < t.start < end for start, end in spans)}
    code_rows = {row for t in tokens if t.type not in _IGNORED_TOKENS | {tokenize.DEDENT, tokenize.ENDMARKER}
                 for row in range(t.start[0], t.end[0] + 1)}
    rows_ending_in_string = {row for (start, _), (end, _) in spans for row in range(start, end)}
    kept = []
    for row, line in enumerate(io.StringIO(text).readlines(), start=1):  # the tokenizer's rows
        body = line.removesuffix("\n").removesuffix("\r")
        if row in rows_ending_in_string:  # its end is string content: verbatim
            kept.append(body)
            continue
        body = body[:comment_starts.get(row, len(body))].rstrip()
        if body or row in code_rows:
            kept.append(body)
    return "\n".join(kept)


def content_key(content: str) -> str:
    return hashlib.sha256(normalise_code(content).encode()).hexdigest()[:16]
