"""The sandbox image as a plain directory for runsc: `docker export` of a created container,
unpacked once per image digest and shared read-only by every gVisor sandbox made from it."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def rootfs_cache() -> Path:
    """$TTC_GVISOR_ROOTFS_DIR, else gvisor-rootfs in ttc's cache (where `ttc models` keeps models)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "ttc"
    return Path(os.environ.get("TTC_GVISOR_ROOTFS_DIR") or cache / "gvisor-rootfs").expanduser()


def image_rootfs(api, image: str) -> Path:
    """The unpacked root filesystem of `image` (exported on first use: a few seconds)."""
    digest = api.inspect_image(image)["Id"].split(":")[-1]
    target = rootfs_cache() / digest
    if not target.is_dir():
        export(api, image, target)
    return target


def export(api, image: str, target: Path) -> None:
    """Unpack into a temporary folder next to `target`, then rename: concurrent pools on one
    host never see half a tree, and the loser of a race drops its copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    container = api.create_container(image, command=["true"], network_disabled=True)["Id"]
    try:
        untar(api.export(container), partial)
        partial.chmod(0o755)  # mkdtemp made it 0700: "/" must be searchable by the sandbox uid
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        api.remove_container(container, force=True)
        shutil.rmtree(partial, ignore_errors=True)


def untar(chunks, folder: Path) -> None:
    # GNU tar as root keeps owners, modes and device nodes exactly as the image has them
    tar = subprocess.Popen(["tar", "--numeric-owner", "-xpf", "-", "-C", str(folder)],
                           stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for chunk in chunks:
            tar.stdin.write(chunk)
    finally:
        tar.stdin.close()
        err = tar.stderr.read().decode(errors="replace")
        if tar.wait() != 0:
            raise RuntimeError(f"unpacking the sandbox image failed: {err.strip()[-300:]}")
