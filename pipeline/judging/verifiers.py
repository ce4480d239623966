"""Verifiers: judge a task's candidates, one Verdict per candidate, in input order.

Plain Python, blind to how a candidate was made. Execution is injected as
`execute(cmd, files, timeout_s=...) -> ExecutionResult` (e.g. `sandbox.SandboxPool.run`, or a
Ray sandbox actor behind a function), so nothing here imports Ray, Docker or the runner.
`execute` must be thread-safe: distinct candidates of a task run in parallel.
A verifier that fails itself returns Verdicts with `error` set and `passed=False`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Protocol

from pipeline.judging.answers import DEFAULT_TIMEOUT_S as DEFAULT_ANSWER_TIMEOUT_S
from pipeline.judging.answers import judge_answer
from pipeline.judging.image_verifiers import DigitClassifierVerifier, heldout_digit_classifier
from pipeline.judging.identifier_match import IdentifierMatchVerifier
from pipeline.core.registry import build
from pipeline.core.types import Candidate, ExecutionResult, Peer, SamplingParams, Task, Verdict
from pipeline.judging.prm import PRMVerifier
from pipeline.judging.repo_verifier import RepoTestsVerifier
from pipeline.judging.step_check import StepCheckVerifier
from pipeline.judging.unit_tests import UnitTestVerifier, probe_arguments
from pipeline.judging.sandboxed import Execute, error_verdicts, execute_safely, verify_distinct

class Verifier(Protocol):
    name: str

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]: ...


# --- unit tests --------------------------------------------------------------------------


def subprocess_executor(cmd: list[str], files: dict[str, str | bytes], timeout_s: float,
                        peer: Peer | None = None) -> ExecutionResult:
    """Run `cmd` in a fresh temp dir holding `files` (and `peer` in another, joined by a socket
    as in the sandbox). NOT a sandbox: no isolation, no uids, no memory or network limits. Only
    for trusted code (our own tests, reference solutions)."""
    with tempfile.TemporaryDirectory(prefix="ttc-exec-") as workdir, \
            tempfile.TemporaryDirectory(prefix="ttc-peer-") as peer_dir:
        write_tree(workdir, files)
        if peer is None:
            return _run_with_timeout(cmd, workdir, timeout_s)
        write_tree(peer_dir, peer.files)
        return _run_with_peer(cmd, workdir, peer.cmd, peer_dir, timeout_s)


def write_tree(root: str, files: dict[str, str | bytes]) -> None:
    for path, data in files.items():
        target = Path(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())


def _run_with_peer(cmd: list[str], workdir: str, peer_cmd: list[str], peer_dir: str, timeout_s: float) -> ExecutionResult:
    main_end, peer_end = socket.socketpair()
    with main_end, peer_end:
        try:
            partner = subprocess.Popen(peer_cmd, cwd=peer_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(peer_end.fileno(),),
                                       env={**os.environ, "SANDBOX_PEER_FD": str(peer_end.fileno())})
        except OSError as cannot_start:
            return ExecutionResult(error=f"cannot start {peer_cmd[0]!r}: {cannot_start}")
        peer_end.close()
        env = {**os.environ, "SANDBOX_PEER_FD": str(main_end.fileno())}
        result = _run_with_timeout(cmd, workdir, timeout_s, env=env, pass_fds=(main_end.fileno(),))
    _kill_group(partner.pid)
    partner_output = partner.communicate()[0].decode(errors="replace")
    return result.model_copy(update={"peer_exit_code": partner.returncode, "peer_output": partner_output})


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_with_timeout(cmd: list[str], workdir: str, timeout_s: float, env: dict | None = None,
                      pass_fds: tuple = ()) -> ExecutionResult:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, env=env, pass_fds=pass_fds)
    except OSError as cannot_start:
        return ExecutionResult(error=f"cannot start {cmd[0]!r}: {cannot_start}")
    try:
        out, err = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)  # the whole group: tests may fork
        out, err = proc.communicate()
        timed_out = True
    return ExecutionResult(exit_code=None if timed_out else proc.returncode, stdout=out.decode(errors="replace"),
                           stderr=err.decode(errors="replace"), timed_out=timed_out,
                           duration_s=time.monotonic() - start)


# --- program outputs (for majority vote over behaviour) ------------------------------------

_PROBE_DRIVER = """\
import ast, json, sys
from solution import {entry_point} as entry
for literal in json.load(open("probe_inputs.json")):
    args = ast.literal_eval(literal)
    args = args if isinstance(args, tuple) else (args,)
    try:
        out = repr(entry(*args))
    except Exception as exc:
        out = "raised " + type(exc).__name__
    print(json.dumps(out), flush=True)
"""


def program_outputs(candidates: list[Candidate], inputs: list[str], entry_point: str,
                    execute: Execute, timeout_s: float = 10.0, parallel: int = 4) -> dict[str, str]:
    """candidate key -> fingerprint of its outputs on `inputs` (argument tuples as Python
    literals, e.g. task.metadata["probe_inputs"]). Programs that behave the same get the same
    fingerprint; a program whose run fails (timeout, crash on import, infrastructure) gets a
    fingerprint of its own key, so failures never pool into a winning vote."""
    probe_arguments(inputs)  # fail here, naming the bad input, not inside every sandbox run
    files = {"probe.py": _PROBE_DRIVER.format(entry_point=entry_point), "probe_inputs.json": json.dumps(inputs)}

    def fingerprint(candidate: Candidate) -> str:
        workspace = {**files, "solution.py": candidate.content}
        result = execute_safely(execute, ["python3", "probe.py"], workspace, timeout_s)
        return hashlib.sha256(result.stdout.encode()).hexdigest()[:16] if result.ok else f"failed:{candidate.key}"

    distinct = list({c.key: c for c in candidates}.values())
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return {c.key: fp for c, fp in zip(distinct, pool.map(fingerprint, distinct))}


# --- exact answer ---------------------------------------------------------------------------


class ExactAnswerVerifier:
    """Candidate answer == reference answer by pipeline.judging.answers.judge_answer (ttc's
    normaliser and math-verify); a check past `timeout_s` is an error verdict, never a pass."""

    name = "exact_answer"

    def __init__(self, timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S):
        self.timeout_s = timeout_s

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        if task.answer is None:
            return error_verdicts(task, candidates, self.name, f"task {task.id!r} has no reference answer")
        return [self._judge(task, c) for c in candidates]

    def _judge(self, task: Task, candidate: Candidate) -> Verdict:
        judgement = judge_answer(candidate.content, task.answer, self.timeout_s)
        match = judgement.match and judgement.error is None
        details = {"normalised": judgement.normalised, "reference": judgement.reference_normalised}
        return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name,
                       passed=match, score=float(match), details=details, error=judgement.error)


# --- reward model ---------------------------------------------------------------------------


class RewardModelVerifier:
    """Any transformers sequence-classification model as a scorer of `prompt + candidate`.
    score = P(positive label): sigmoid for a 1-logit head, else softmax at `positive_label`
    (default: the label named like "positive"/"correct"/"yes", else the last one)."""

    name = "reward_model"

    def __init__(self, model_path: str, batch_size: int = 16, threshold: float = 0.5, device: str = "auto",
                 max_length: int = 2048, positive_label: int | None = None):
        self.model_path, self.batch_size, self.threshold = model_path, batch_size, threshold
        self.device, self.max_length, self.positive_label = device, max_length, positive_label
        self._model = self._tokenizer = None
        self._lock = threading.Lock()

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        return verify_distinct(candidates, lambda firsts: self._judge(task, firsts))

    def _judge(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        texts = [task.prompt + c.content for c in candidates]
        scores = [s for i in range(0, len(texts), self.batch_size) for s in self.score(texts[i : i + self.batch_size])]
        return [Verdict(task_id=task.id, candidate_key=c.key, verifier=self.name, passed=s >= self.threshold,
                        score=s, details={"model": self.model_path}) for c, s in zip(candidates, scores)]

    def score(self, texts: list[str]) -> list[float]:
        import torch

        # one lock: the model loads once, and the (not thread-safe) tokenizer runs one batch at a time
        with self._lock:
            model, tokenizer = self._load()
            batch = tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with torch.no_grad():
                logits = model(**batch.to(model.device)).logits.float()
        if logits.shape[-1] == 1:
            return torch.sigmoid(logits[:, 0]).tolist()
        return torch.softmax(logits, dim=-1)[:, self._positive_index(model)].tolist()

    def _positive_index(self, model: Any) -> int:
        if self.positive_label is not None:
            return self.positive_label
        for index, label in sorted(model.config.id2label.items()):
            if str(label).lower() in {"positive", "correct", "yes", "pass", "good"}:
                return int(index)
        return model.config.num_labels - 1

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            if self._tokenizer.pad_token is None:  # decoder-only scorers often ship without one
                self._tokenizer.pad_token = self._tokenizer.eos_token
            self._model = AutoModelForSequenceClassification.from_pretrained(self.model_path).to(device).eval()
            self._model.config.pad_token_id = self._tokenizer.pad_token_id
        return self._model, self._tokenizer


# --- LLM judge -------------------------------------------------------------------------------

JUDGE_TEMPLATE = """You are grading a solution.
Problem:
{prompt}

Proposed solution:
{candidate}

Is the proposed solution correct? Answer with one word, yes or no.
Answer:"""

_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_judgement(text: str) -> float | None:
    """1.0 for yes, 0.0 for no (the first of them in the text), None when neither appears."""
    found = _YES_NO.search(text)
    return None if found is None else float(found.group(1).lower() == "yes")


class LLMJudgeVerifier:
    """A generator reads the problem and the candidate and answers yes/no, `samples` times;
    score = fraction of yes among parsable judgements; no parsable judgement is an error.
    `params` (when given) overrides `samples`; the template may use {prompt}, {candidate}, {reference}.
    `chat`: the filled template goes as one user message (an instruct model's chat template)."""

    name = "llm_judge"

    def __init__(self, generator: Any, template: str = JUDGE_TEMPLATE, samples: int = 1, threshold: float = 0.5,
                 params: SamplingParams | None = None, chat: bool = False):
        self.generator, self.template, self.threshold, self.chat = generator, template, threshold, chat
        temperature = 0.0 if samples == 1 else 1.0  # one greedy judgement, or a vote of sampled ones
        self.params = params or SamplingParams(n=samples, temperature=temperature, max_new_tokens=8, seed=0)

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        return verify_distinct(candidates, lambda firsts: self._judge(task, firsts))

    def _prompt(self, task: Task, candidate: Candidate) -> str | list[dict[str, str]]:
        text = self.template.format(prompt=task.prompt, candidate=candidate.content, reference=task.answer or "")
        return [{"role": "user", "content": text}] if self.chat else text

    def _judge(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        prompts = [self._prompt(task, c) for c in candidates]
        outputs = self.generator.generate(prompts, self.params)
        return [self._verdict(task, c, [o.text for o in outs]) for c, outs in zip(candidates, outputs)]

    def _verdict(self, task: Task, candidate: Candidate, texts: list[str]) -> Verdict:
        votes = [v for v in map(parse_judgement, texts) if v is not None]
        score = sum(votes) / len(votes) if votes else 0.0
        error = None if votes else f"judge gave no yes/no in {len(texts)} answer(s): {texts[0][:200]!r}"
        return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name,
                       passed=bool(votes) and score >= self.threshold, score=score,
                       details={"judgements": [t[:200] for t in texts]}, error=error)


def llm_judge(backend: str = "hf", model_path: str | None = None, model: str | None = None,
              base_url: str | None = None, generator_options: dict[str, Any] | None = None,
              template: str = JUDGE_TEMPLATE, samples: int = 1, threshold: float = 0.5,
              max_new_tokens: int = 8, chat: bool = False) -> LLMJudgeVerifier:
    """The llm_judge verifier as a config names it (`verifier_options`): the judge's own generator,
    built here, so in the verifier actor. A local model (`model_path`, backend hf) or a model
    `model` served at `base_url` (backend openai_compat); `generator_options` are the backend's
    other options (device, api_key_env, ...)."""
    from pipeline.generators import make_generator

    options = _judge_model(backend, model_path, model, base_url) | dict(generator_options or {})
    if chat and backend == "openai_compat":
        options.setdefault("chat", True)  # messages go to the server's chat endpoint
    temperature = 0.0 if samples == 1 else 1.0  # one greedy judgement, or a vote of sampled ones
    params = SamplingParams(n=samples, temperature=temperature, max_new_tokens=max_new_tokens, seed=0)
    return LLMJudgeVerifier(make_generator(backend, **options), template, samples, threshold, params, chat)


def _judge_model(backend: str, model_path: str | None, model: str | None, base_url: str | None) -> dict[str, Any]:
    if backend == "openai_compat":
        if not (model and base_url):
            raise ValueError("llm_judge on backend 'openai_compat' needs verifier_options model (the served "
                             "model's name) and base_url (e.g. http://127.0.0.1:8000/v1)")
        return {"model": model, "base_url": base_url}
    if not model_path or model or base_url:
        raise ValueError(f"llm_judge on backend {backend!r} needs verifier_options model_path (a model folder "
                         "or name, e.g. models/tiny-math), and no model or base_url")
    return {"model_path": model_path}


# --- registry ---------------------------------------------------------------------------------

VERIFIERS: dict[str, Callable[..., Verifier]] = {
    "unit_tests": UnitTestVerifier,
    "visible_tests": lambda execute, timeout_s=10.0, parallel=4, fingerprint=False:
        UnitTestVerifier(execute, timeout_s, parallel, True, fingerprint),
    "exact_answer": ExactAnswerVerifier,
    "reward_model": RewardModelVerifier,
    "llm_judge": llm_judge,
    "identifier_match": IdentifierMatchVerifier,
    "digit_classifier": DigitClassifierVerifier,
    "digit_classifier_heldout": heldout_digit_classifier,
    "repo_tests": RepoTestsVerifier,
    "prm": PRMVerifier,
    "step_check": StepCheckVerifier,
}


def make_verifier(name: str, **deps: Any) -> Verifier:
    return build(VERIFIERS, name, "verifier", **deps)
