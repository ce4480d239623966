"""Source of real pure-Python projects, fetched as pinned sdists from the package index.

    python -m models.code_corpus            # fetch + verify + extract every project
    python -m models.code_corpus --hashes   # print the sha256 of what is cached (to pin new ones)

Each project is `pip download --no-deps --no-binary :all: NAME==VERSION` into a cache outside
the repository ($TTC_SDIST_DIR, default ~/.cache/ttc/sdists), checked against the sha256
pinned here, and extracted once. The split is by project: TRAIN projects feed models/tiny-py;
HELD_OUT projects (never in training) feed the monitor-guided decoding benchmark.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    sha256: str  # of the sdist archive, pinned when the entry was added


TRAIN = (
    Project("requests", "2.32.3",
            "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760"),
    Project("click", "8.1.7",
            "ca9853ad459e787e2192211578cc907e7594e294c7ccc834310722b41b9ca6de"),
    Project("flask", "3.0.3",
            "ceb27b0af3823ea2737928a4d99d125a06175b8512c445cbd9a9ce200ef76842"),
    Project("werkzeug", "3.0.4",
            "34f2371506b250df4d4f84bfe7b0921e4762525762bbd936614909fe25cd7306"),
    Project("jinja2", "3.1.4",
            "4a3aee7acbbe7303aede8e9648d13b8bf88a429282aa6122a993f0ac800cb369"),
    Project("attrs", "24.2.0",
            "5cfb1b9148b5b086569baec03f20d7b6bf3bcacc9a42bebf87ffaaca362f6346"),
    Project("packaging", "24.1",
            "026ed72c8ed3fcce5bf8950572258698927fd1dbda10a5e981cdf0ac37f4f002"),
    Project("tqdm", "4.66.5",
            "e1020aef2e5096702d8a025ac7d16b1577279c9d63f8375b63083e9a5f0fcbad"),
    Project("pyparsing", "3.1.4",
            "f86ec8d1a83f11977c9a6ea7598e8c27fc5cddfa5b07ea2241edbbde1d7bc032"),
    Project("bottle", "0.13.1",
            "a48852dc7a051353d3e4de3dd5590cd25de370bcfd94a72237561e314ceb0c88"),
    Project("markdown", "3.7",
            "2ae2471477cfd02dbbf038d5d9bc226d40def84b4fe2986e49b59b6b472bbed2"),
    Project("more-itertools", "10.5.0",
            "5482bfef7849c25dc3c6dd53a6173ae4795da2a41a80faea6700d9f5846c5da6"),
    Project("boltons", "24.0.0",
            "7153feccaea1ff2e1472f68d4b57fadb796a2ee49d29f638f1c9cd8fb5ebd916"),
    Project("toolz", "0.12.1",
            "ecca342664893f177a13dac0e6b41cbd8ac25a358e5f215316d43e2100224f4d"),
    Project("urllib3", "2.2.3",
            "e7d814a81dad81e6caf2ec9fdedb284ecc9c73076b62654547cc64ccdcae26e9"),
    Project("tomlkit", "0.13.2",
            "fff5fe59a87295b278abd31bec92c15d9bc4a06885ab12bcea52c71119392e79"),
    Project("itsdangerous", "2.2.0",
            "e0050c0b7da1eea53ffaf149c0cfbb5c6e2e2b69c4bef22c81fa6eb73e5f6173"),
    Project("mako", "1.3.5",
            "48dbc20568c1d276a2698b36d968fa76161bf127194907ea6fc594fa81f943bc"),
    Project("python-dateutil", "2.9.0.post0",
            "37dd54208da7e1cd875388217d5e00ebd4179249f90fb72437e91a35459a0ad3"),
    Project("rich", "13.8.1",
            "8260cda28e3db6bf04d2d1ef4dbc03ba80a824c88b0e7668a0f23126a424844a"),
)
HELD_OUT = (
    Project("marshmallow", "3.22.0",
            "4972f529104a220bb8637d595aa4c9762afbe7f7a77d82dc58c1615d70c5823e"),
    Project("sortedcontainers", "2.4.0",
            "25caa5a06cc30b6b83d11423433f65d1f9d76c4c6a0c90e3379eaa43b9bfdb88"),
    Project("cachetools", "5.5.0",
            "2cc24fb4cbe39633fb7badd9db9ca6295d766d9c2995f245725a46715d050f2a"),
    Project("pathspec", "0.12.1",
            "a482d51503a1ab33b1c67a6c3813a26953dbdc71c31dacaef9a838c4e29f5712"),
    Project("mistune", "3.0.2",
            "fc7f93ded930c92394ef2cb6f04a8aabab4117a91449e72dcc8dfa646a508be8"),
    Project("tabulate", "0.9.0",
            "0095b12bf5966de529c0feb1fa08671671b3368eec77d7ef7ab114be2c068b3c"),
    Project("humanize", "4.10.0",
            "06b6eb0293e4b85e8d385397c5868926820db32b9b654b932f57fa41c23c9978"),
    Project("schedule", "1.2.2",
            "15fe9c75fe5fd9b9627f3f19cc0ef1420508f9f9a46f45cd0769ef75ede5f0b7"),
)
SKIPPED_PARTS = {"docs", "doc", "examples", "benchmarks", "build"}  # prose and demos, not the project's code


def cache_dir() -> Path:
    return Path(os.environ.get("TTC_SDIST_DIR", Path.home() / ".cache" / "ttc" / "sdists"))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archive_of(project: Project, where: Path) -> Path | None:
    stem = project.name.replace("-", "_").lower()
    for path in where.glob("*.tar.gz"):
        if path.name.lower().replace("-", "_").startswith(f"{stem}_{project.version}"):
            return path
    return None


def download(project: Project, where: Path) -> Path:
    archive = archive_of(project, where)
    if archive is None:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "-d", str(where), f"{project.name}=={project.version}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        archive = archive_of(project, where)
        if done.returncode != 0 or archive is None:
            raise RuntimeError(f"pip download of {project.name}=={project.version} failed: {done.stderr[-800:]}")
    if project.sha256 and sha256_of(archive) != project.sha256:
        raise RuntimeError(f"{archive} has sha256 {sha256_of(archive)}, pinned {project.sha256}; delete it and retry")
    return archive


def fetch(project: Project) -> Path:
    """The extracted source tree of `project` (downloaded, verified and extracted once)."""
    where = cache_dir()
    root = where / "src" / f"{project.name}-{project.version}"
    if (root / ".complete").is_file():
        return root
    where.mkdir(parents=True, exist_ok=True)
    archive = download(project, where)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    (root / ".complete").write_text(sha256_of(archive) + "\n")
    return root


def fetch_all(projects=TRAIN + HELD_OUT, parallel: int = 4) -> dict[str, Path]:
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return dict(zip((p.name for p in projects), pool.map(fetch, projects)))


def python_files(root: Path) -> list[Path]:
    """The project's own .py files (no docs, examples or setup scripts), sorted."""
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = {part.lower() for part in path.relative_to(root).parts}
        if parts & SKIPPED_PARTS or path.name in ("setup.py", "conftest.py"):
            continue
        files.append(path)
    return files


def project_root(tree: Path) -> Path:
    """The sdist's single top folder (`name-version/`) when it has one."""
    children = [c for c in tree.iterdir() if c.name != ".complete"]
    return children[0] if len(children) == 1 and children[0].is_dir() else tree


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", action="store_true", help="print the sha256 of every cached archive")
    args = parser.parse_args(argv)
    roots = fetch_all()
    for project in TRAIN + HELD_OUT:
        root = project_root(roots[project.name])
        line = f"{project.name}=={project.version} {len(python_files(root))} files"
        if args.hashes:
            line += f" {sha256_of(archive_of(project, cache_dir()))}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
