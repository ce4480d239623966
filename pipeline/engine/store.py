"""Results on disk: one run directory, JSONL files appended atomically, idempotent keys.

A record is written with a single O_APPEND write of one line, so a killed run leaves at
most one torn last line, which `read` skips. Records carry a `key`; reading keeps the first
record per key, so a resumed run that re-appends a key cannot create duplicates.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

KINDS = ("samples", "verdicts", "selections", "errors", "chunks", "tasks", "canaries")


class RunStore:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seen: dict[str, set[str]] = {kind: {r["key"] for r in self.read(kind)} for kind in KINDS}

    def path(self, kind: str) -> Path:
        return self.run_dir / f"{kind}.jsonl"

    def has(self, kind: str, key: str) -> bool:
        return key in self._seen[kind]

    def append(self, kind: str, key: str, record: dict[str, Any]) -> bool:
        """Write the record unless its key is already stored; True if written."""
        return self.append_lines(kind, [(key, encode(key, record))]) == 1

    def append_lines(self, kind: str, lines: list[tuple[str, str]]) -> int:
        """Write the encoded records (`encode`) whose keys are not stored yet, in one write;
        returns how many. Orchestrator shards encode, so the driver only writes."""
        with self._lock:
            new = {}
            for key, line in lines:
                if key not in self._seen[kind] and key not in new:
                    new[key] = line
            if not new:
                return 0
            fd = os.open(self.path(kind), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, "".join(new.values()).encode())
            finally:
                os.close(fd)
            self._seen[kind].update(new)
        return len(new)

    def read(self, kind: str) -> list[dict[str, Any]]:
        records, keys = [], set()
        for record in _read_lines(self.path(kind)):
            if record.get("key") not in keys:
                keys.add(record.get("key"))
                records.append(record)
        return records

    def write_json(self, name: str, data: Any) -> Path:
        """Atomic replace: readers never see a half-written summary."""
        target = self.run_dir / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
        os.replace(tmp, target)
        return target


def encode(key: str, record: dict[str, Any]) -> str:
    """One record as its line in a run directory's JSONL file."""
    return json.dumps({"key": key, **record}, default=str) + "\n"


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open() as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run; its record is redone
