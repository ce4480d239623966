"""Build the sandbox base image offline: debootstrap a minimal Debian, import it into Docker.

No registry is needed; the Debian mirror is read from this machine's apt sources so no
mirror host name lives in the repository. Users with registry access can use the Dockerfile
next to this file instead.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_TAG = "ttc-sandbox:base"
SUITE = "bookworm"
PACKAGES = "python3,python3-pytest,git,patch"
SANDBOX_UID = 10001
# Bump when the contents change: an image built from an older recipe is rebuilt.
RECIPE = "3"
RECIPE_LABEL = "ttc.image-recipe"


class ImageBuildError(RuntimeError):
    pass


def image_exists(tag: str = DEFAULT_TAG) -> bool:
    import docker

    try:
        docker.from_env().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def image_is_current(tag: str = DEFAULT_TAG) -> bool:
    """The image exists and was built from this recipe (ours, or the Dockerfile's)."""
    import docker

    try:
        labels = docker.from_env().images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return False
    return labels.get(RECIPE_LABEL) == RECIPE


def build_image(tag: str = DEFAULT_TAG, force: bool = False) -> str:
    """Build `tag` unless it exists (or `force`); returns the image id."""
    import docker

    client = docker.from_env()
    if not force and image_is_current(tag):
        return client.images.get(tag).id
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="ttc-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _debootstrap(rootfs, mirror)
        _add_sandbox_user(rootfs)
        _trim(rootfs)
        _docker_import(rootfs, tag)
    return client.images.get(tag).id


def debian_mirror() -> str:
    """The first Debian archive URI of this machine's apt sources (deb822 or one-line)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for uri in re.findall(r"^URIs:\s*(\S+)", Path(path).read_text(), flags=re.M):
            if "security" not in uri:
                return uri
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if Path(path).exists():
            for match in re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", Path(path).read_text(), flags=re.M):
                if "security" not in match:
                    return match
    raise ImageBuildError("no Debian mirror found in /etc/apt/sources.list(.d); configure apt first")


def _debootstrap(rootfs: Path, mirror: str) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed: run `apt-get install -y debootstrap` (as root)")
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root: run `sudo ttc sandbox build-image`")
    cmd = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs), mirror]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log = proc.stderr[-2000:] or proc.stdout[-2000:]
        raise ImageBuildError(f"debootstrap {SUITE} from {mirror} failed ({proc.returncode}): {log}")


def _add_sandbox_user(rootfs: Path) -> None:
    """A named unprivileged user so tools that look up the uid (pip, getpass) work."""
    with open(rootfs / "etc/passwd", "a") as f:
        f.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/work:/bin/sh\n")
    with open(rootfs / "etc/group", "a") as f:
        f.write(f"sandbox:x:{SANDBOX_UID}:\n")
    (rootfs / "work").mkdir(exist_ok=True)


def _trim(rootfs: Path) -> None:
    for sub in ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"]:
        shutil.rmtree(rootfs / sub, ignore_errors=True)
    # Debian's sitecustomize looks for the apport crash hook at every interpreter start:
    # ~1.5 ms of each sandboxed Python program (13 ms in all), for a hook the image lacks.
    for path in rootfs.glob("etc/python3*/sitecustomize.py"):
        path.unlink()


def _docker_import(rootfs: Path, tag: str) -> None:
    if shutil.which("docker") is None:
        raise ImageBuildError("the docker CLI is needed to import the image: install docker.io")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imp = subprocess.run(["docker", "import", "--change", "WORKDIR /work",
                          "--change", f"LABEL {RECIPE_LABEL}={RECIPE}", "-", tag],
                         stdin=tar.stdout, capture_output=True, text=True)
    tar.stdout.close()
    tar.wait()
    if tar.returncode != 0 or imp.returncode != 0:
        raise ImageBuildError(f"docker import of {rootfs} as {tag} failed: {imp.stderr[-2000:]}")


if __name__ == "__main__":
    print(build_image(force=False))
