"""`ttc doctor`: is this machine ready to run ttc? One row per check, with a fix for each failure."""
from __future__ import annotations

import importlib
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODELS = ("tiny-coder", "tiny-math")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, platform.python_version(), "use Python 3.10 or newer")


def check_torch() -> Check:
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        return Check("torch", False, str(exc), "bash scripts/dev.sh setup (installs torch==2.13.0)")
    device = f"CUDA x{torch.cuda.device_count()}" if torch.cuda.is_available() else "CPU only"
    return Check("torch", True, f"{torch.__version__} ({device})")


def check_ray() -> Check:
    try:
        ray = importlib.import_module("ray")
    except ImportError as exc:
        return Check("ray", False, str(exc), "bash scripts/dev.sh setup")
    return Check("ray", True, ray.__version__)


DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DOCKER_FIX = ("start the Docker engine (as root: bash scripts/dev.sh setup, which installs docker.io "
              "and starts dockerd); if DOCKER_HOST is set, check that it points at a live engine")


def docker_host() -> str:
    """Where docker-py looks for the engine: $DOCKER_HOST, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def image_fix(tag: str) -> str:
    return f"ttc sandbox build-image --tag {tag}"


def docker_client():
    """A client of an engine that answered a ping (5 s at most: a dead socket fails at once)."""
    import docker

    client = docker.from_env(timeout=5)
    client.ping()
    return client


def check_docker() -> Check:
    try:
        version = docker_client().version().get("Version", "?")
    except Exception as exc:  # noqa: BLE001 - any failure means "engine unusable"; shown to the user
        return Check("docker engine", False, f"{type(exc).__name__}: {str(exc)[:120]}", DOCKER_FIX)
    return Check("docker engine", True, f"server {version}")


def check_image(tag: str = "ttc-sandbox:base") -> Check:
    try:  # `docker image inspect`, as the sandbox pool does before it starts containers
        image = docker_client().api.inspect_image(tag)
    except Exception as exc:  # noqa: BLE001 - engine down or image missing, both shown
        return Check("sandbox image", False, f"{tag}: {type(exc).__name__}", image_fix(tag))
    return Check("sandbox image", True, f"{tag} {image['Id'].split(':')[-1][:12]}")


def check_gvisor(tag: str = "ttc-sandbox:base") -> Check:
    """Whether `sandbox.runtime: gvisor` works here: one real gVisor sandbox, asked for its kernel.
    Optional: runc is the default runtime."""
    from sandbox import Limits, SandboxPool
    from sandbox.gvisor import INSTALL_FIX, runsc_version, unavailable_reason

    reason = unavailable_reason()
    if reason:
        return Check("gvisor (runsc)", False, reason.split(":")[0], INSTALL_FIX, required=False)
    try:
        with SandboxPool(size=1, image=tag, limits=Limits(timeout_s=10), runtime="gvisor") as pool:
            result = pool.run(["python3", "-c", "import os; print(os.uname().release)"])
    except Exception as exc:  # noqa: BLE001 - any failure means "gVisor unusable"; shown to the user
        return Check("gvisor (runsc)", False, f"{type(exc).__name__}: {str(exc)[:120]}",
                     f"check runsc on its own (runsc --network=none do true); {image_fix(tag)} if the image is missing",
                     required=False)
    if result.exit_code != 0:
        return Check("gvisor (runsc)", False, f"a sandboxed program failed: {result.error or result.stderr[:120]}",
                     "run `ttc doctor` again; report the output if it persists", required=False)
    kernel = result.stdout.strip()
    return Check("gvisor (runsc)", True, f"runsc {runsc_version()}, sandbox kernel {kernel} (host {platform.release()})",
                 required=False)


def check_models() -> list[Check]:
    checks = []
    for name in SHIPPED_MODELS:
        folder = REPO_ROOT / "models" / name
        ok = (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
        checks.append(Check(f"model {name}", ok, str(folder), "git checkout the models/ folder (weights are committed)"))
    return checks


def check_fetched_models() -> list[Check]:
    from pipeline.core.model_zoo import WHEEL_MODELS, is_fetched, models_dir

    return [Check(f"model {name}", is_fetched(name), str(models_dir() / name), f"ttc models fetch {name}",
                  required=False) for name in WHEEL_MODELS]


def run_checks() -> list[Check]:
    return [check_python(), check_torch(), check_ray(), check_docker(), check_image(), check_gvisor(),
            *check_models(), *check_fetched_models()]


def format_table(checks: list[Check]) -> str:
    rows = [("check", "status", "detail", "fix")]
    for c in checks:
        status = "ok" if c.ok else ("MISSING" if c.required else "warn")
        rows.append((c.name, status, c.detail, "" if c.ok else c.fix))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(" | ".join([*(r[i].ljust(widths[i]) for i in range(3)), r[3]]).rstrip() for r in rows)


def doctor() -> int:
    checks = run_checks()
    print(format_table(checks))
    return 0 if all(c.ok or not c.required for c in checks) else 1
