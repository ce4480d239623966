"""What made a run: seeds, model weights hash, sandbox image digest, ttc version and commit."""
from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path
from typing import Any

from pipeline.core.config import RunConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def weights_hash(model_path: str) -> str | None:
    folder = Path(model_path)
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def image_digest(tag: str) -> str | None:
    try:
        import docker

        return docker.from_env(timeout=5).images.get(tag).id
    except Exception:  # noqa: BLE001 - provenance is best effort; a missing image fails later, loudly
        return None


def collect(config: RunConfig) -> dict[str, Any]:
    from pipeline.core.version import __version__

    return {
        "ttc_version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "seed": config.seed,
        "sampling_seed": config.sampling.seed,
        "task_seed": config.tasks.seed,
        "model_path": config.model.path,
        "model_weights_sha256": weights_hash(config.model.path),
        "sandbox_image": config.sandbox.image,
        "sandbox_image_digest": image_digest(config.sandbox.image),
        "config": config.model_dump(mode="json"),
    }
