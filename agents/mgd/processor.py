"""The logits processor that lets a monitor mask tokens inside the `hf` generator's decode loop.

It is built in the agent and pickled to the generator actor, so it carries only plain data
(paths and strings); the tokenizer, its token trie and the monitor are made on first call in
the actor's process (the trie once per tokenizer per process). Rows are not tracked: each
call reads every row's generated text back from its token ids (the rows of a request drop out
as they finish), and the monitor's answers are cached by the code they were asked about.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path
from functools import lru_cache
from typing import Any

from agents.mgd.jedi_monitor import JediMonitor
from agents.mgd.trie import TokenTrie

_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def tokenizer_and_trie(tokenizer_path: str) -> tuple[Any, TokenTrie]:
    """Loaded once per process and path: decoding a 50k vocabulary token by token takes a while."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    texts = ((i, tokenizer.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False))
             for i in range(len(tokenizer)))
    return tokenizer, TokenTrie(texts)


def materialise(repo_files: dict[str, str]) -> Path:
    """Write a repository given as {relative path: text} once, to a folder named by its hash."""
    blob = json.dumps(repo_files, sort_keys=True).encode()
    root = Path(tempfile.gettempdir()) / "ttc-mgd-repos" / hashlib.sha256(blob).hexdigest()[:16]
    if not (root / ".complete").is_file():
        for relative, text in repo_files.items():
            if relative.startswith("/") or ".." in Path(relative).parts:
                raise ValueError(f"repo file path {relative!r} must be relative and stay inside the repository")
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
        (root / ".complete").write_text("")
    return root


def pad_id_of(tokenizer: Any) -> int | None:
    """The id the hf generator left-pads with (its pad token, else its eos)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


class MonitorProcessor:
    """`processor(input_ids[rows, seq], scores[rows, vocab]) -> scores` for one prompt's samples.

    prompt: the text the generator was given; context: the file's full text before it (the
    prompt may be only its tail), so the monitor sees `context + generated`.
    """

    def __init__(self, tokenizer_path: str, prompt: str, context: str, repo_root: str | None,
                 file_path: str | None = None, triggers: tuple[str, ...] = ("dereference", "from_import"),
                 repo_files: dict[str, str] | None = None):
        if not repo_root and not repo_files:
            raise ValueError("MonitorProcessor needs repo_root or repo_files")
        self.tokenizer_path, self.prompt, self.context = tokenizer_path, prompt, context
        self.repo_root, self.file_path, self.triggers = repo_root, file_path, tuple(triggers)
        self.repo_files = repo_files
        self._local: dict[str, Any] = {}

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _local={})

    # ------------------------------------------------------------ state made in the actor

    def _setup(self) -> dict[str, Any]:
        if not self._local:
            with _LOCK:
                tokenizer, trie = tokenizer_and_trie(self.tokenizer_path)
                root = materialise(self.repo_files) if self.repo_files else self.repo_root
            file_path = str(Path(root) / self.file_path) if self.file_path else None
            self._local.update(
                tokenizer=tokenizer, trie=trie, pad=pad_id_of(tokenizer),
                prompt_ids=tokenizer(self.prompt)["input_ids"],
                monitor=JediMonitor(str(root), file_path, self.triggers),
                masks={}, stats={"steps": 0, "masked_rows": 0, "seconds": 0.0})
        return self._local

    @property
    def stats(self) -> dict[str, Any]:
        local = self._setup()
        monitor = local["monitor"]
        return {**local["stats"], "jedi_calls": monitor.calls, "jedi_errors": monitor.errors,
                "jedi_seconds": monitor.seconds}

    # ------------------------------------------------------------ per step

    def __call__(self, input_ids, scores):
        local = self._setup()
        started = time.perf_counter()
        for row, ids in enumerate(input_ids.tolist()):
            allowed = self._allowed_ids(self.generated_text(ids))
            if allowed is not None:
                keep = allowed[allowed < scores.shape[-1]].to(scores.device)
                masked = scores.new_full((scores.shape[-1],), float("-inf"))
                masked[keep] = scores[row, keep]
                scores[row] = masked
                local["stats"]["masked_rows"] += 1
        local["stats"]["steps"] += 1
        local["stats"]["seconds"] += time.perf_counter() - started
        return scores

    def generated_text(self, ids: list[int]) -> str:
        """What this row generated after the prompt: the ids after left padding and the prompt."""
        local = self._local
        prompt_ids, pad = local["prompt_ids"], local["pad"]
        padding = 0
        while padding < len(ids) and ids[padding] == pad:
            padding += 1
        prompt_pads = 0
        while prompt_pads < len(prompt_ids) and prompt_ids[prompt_pads] == pad:
            prompt_pads += 1
        start = padding - prompt_pads
        if start >= 0 and ids[start:start + len(prompt_ids)] == prompt_ids:
            new = ids[start + len(prompt_ids):]
            return local["tokenizer"].decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        text = local["tokenizer"].decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if not text.startswith(self.prompt):
            raise ValueError("MonitorProcessor: a row's token ids do not start with its prompt; "
                             "was the processor given to a request for another prompt?")
        return text[len(self.prompt):]

    def _allowed_ids(self, generated: str):
        """Token ids the monitor admits next, or None when it does not constrain this position."""
        import torch

        local = self._local
        found = local["monitor"].allowed(self.context + generated)
        if found is None:
            return None
        trigger, names = found
        key = (names, trigger.partial)
        if key not in local["masks"]:
            ids = sorted(local["trie"].allowed(names, trigger.partial))
            local["masks"][key] = torch.tensor(ids, dtype=torch.long) if ids else None
        return local["masks"][key]
