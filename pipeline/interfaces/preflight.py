"""`ttc run`'s checks before Ray starts or any model loads.

A run that cannot succeed should say so in a second, not after Ray's start-up and a model load:
unknown component names, a model folder that is not there, a Docker engine or sandbox image the
run needs but cannot reach, gVisor asked for where it cannot run, a task file whose tasks lack what the verifier or strategy needs.
Each problem is one line naming it and its fix. The Docker probes are `ttc doctor`'s own.

Joining a cluster (--address, $RAY_ADDRESS), the model folder and Docker are the cluster nodes'
business, so only the config and the task file are checked here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from pipeline.core.config import RunConfig, build_config, read_yaml
from pipeline.core.types import Task

TaskCheck = Callable[[str, Task], "str | None"]  # (component name, task) -> why it cannot take the task

# backends that load a local folder, and the file that folder must hold; others (openai_compat:
# a server URL; backends registered at run time) are not checked
MODEL_FILES = {"hf": "config.json", "quiet_star": "config.json", "diffusers": "unet/config.json"}


def preflight(config: RunConfig, resume_dir: str | None = None, ray_address: str | None = None) -> list[str]:
    """Every problem found, one line each; empty when the run may start."""
    config = resumed_config(config, resume_dir)
    problems = name_problems(config)
    problems += option_problems(config) if not problems else []  # options of names that exist
    if not joins_cluster(ray_address):
        problems += [p for p in (model_problem(config), docker_problem(config), gvisor_problem(config)) if p]
    return problems + task_problems(config)


def resumed_config(config: RunConfig, resume_dir: str | None) -> RunConfig:
    """The config a resumed run goes on with: the one stored in its run directory (as runner.open_run)."""
    stored = Path(resume_dir) / "config.yaml" if resume_dir else None
    return build_config(read_yaml(stored), source=str(stored)) if stored and stored.is_file() else config


def joins_cluster(ray_address: str | None) -> bool:
    return bool(ray_address or os.environ.get("RAY_ADDRESS"))  # as runner.init_ray decides


# --- names and options ------------------------------------------------------------------------

def option_problems(config: RunConfig) -> list[str]:
    """A verifier the strategy cannot search with, and strategy and selector options their models
    refuse (each otherwise fails once Ray is up)."""
    from agents import parse_options
    from agents.requirements import verifier_problem
    from pipeline.judging.selectors import make_selector

    problems = [p for p in (verifier_problem(config.strategy, config.verifier),) if p]
    try:
        parse_options(config.strategy, config.strategy_options)
    except ValueError as exc:
        problems.append(str(exc))
    for name in config.selectors:
        try:
            make_selector(name, **config.selector_options.get(name, {}))
        except (ValueError, TypeError) as exc:
            problems.append(str(exc) if repr(name) in str(exc) else f"selector {name!r}: {exc}")
    return problems


def name_problems(config: RunConfig) -> list[str]:
    """Unknown strategy, verifier, oracle, selector or backend names (each otherwise fails only
    once Ray is up and the model loaded)."""
    from agents import AGENTS
    from pipeline.core.registry import UnknownNameError, lookup
    from pipeline.generators import BACKENDS
    from pipeline.judging.selectors import SELECTORS
    from pipeline.judging.verifiers import VERIFIERS

    wanted = [(AGENTS, config.strategy, "strategy"), (VERIFIERS, config.verifier, "verifier"),
              (BACKENDS, config.model.backend, "generator backend (model.backend)"),
              *((SELECTORS, name, "selector") for name in config.selectors)]
    if config.oracle:
        wanted.append((VERIFIERS, config.oracle, "verifier (oracle)"))
    problems = []
    for registry, name, what in wanted:
        try:
            lookup(registry, name, what)
        except UnknownNameError as exc:
            problems.append(str(exc))
    return problems


# --- the model --------------------------------------------------------------------------------

def model_problem(config: RunConfig) -> str | None:
    from pipeline.core.model_zoo import resolve_model_path

    model = config.model
    needed = MODEL_FILES.get(model.backend)
    if needed is None:
        return None
    try:
        folder = Path(resolve_model_path(model.path))  # names, and repository paths from anywhere
    except FileNotFoundError as exc:  # a fetchable model not fetched yet; the message says how
        return str(exc)
    if not folder.is_dir():
        return (f"model folder {model.path!r} (model.path) does not exist: set model.path to a model "
                f"folder, or to a name from `ttc models list`")
    if not (folder / needed).is_file():
        return (f"model folder {str(folder)!r} (model.path) has no {needed}, so the {model.backend} backend "
                f"cannot load it: point model.path at a saved model (`ttc models list` shows ttc's)")
    return None


# --- Docker -----------------------------------------------------------------------------------

def sandbox_reason(config: RunConfig) -> str | None:
    """Why this run needs the Docker sandbox, or None when it does not."""
    from agents.requirements import SANDBOX_STRATEGIES
    from pipeline.engine.runner import SANDBOX_VERIFIERS

    for role, name in (("verifier", config.verifier), ("oracle", config.oracle)):
        if name in SANDBOX_VERIFIERS:
            return f"the {role} {name} runs code in the sandbox"
    if config.strategy in SANDBOX_STRATEGIES:
        return f"the strategy {config.strategy} runs code in the sandbox"
    return None


def docker_problem(config: RunConfig) -> str | None:
    from pipeline.interfaces.doctor import check_docker, check_image, docker_host, image_fix

    reason = sandbox_reason(config)
    if reason is None:
        return None
    if not check_docker().ok:
        return f"the Docker engine does not answer at {docker_host()} ({reason}): start it, or run `ttc doctor`"
    image = config.sandbox.image
    if not check_image(image).ok:
        return (f"the sandbox image {image!r} (sandbox.image) is not present ({reason}): "
                f"run `{image_fix(image)}`, or set sandbox.image to an image that exists")
    return None


def gvisor_problem(config: RunConfig) -> str | None:
    """sandbox.runtime: gvisor where runsc cannot run (not installed, not root, no cgroups)."""
    from sandbox.gvisor import unavailable_reason

    if config.sandbox.runtime != "gvisor" or sandbox_reason(config) is None:
        return None
    reason = unavailable_reason()
    return f"sandbox.runtime is gvisor, but {reason}" if reason else None


# --- tasks ------------------------------------------------------------------------------------

def task_problems(config: RunConfig) -> list[str]:
    """A task file's tasks against what the verifier, the oracle and the strategy need. Only a
    jsonl file is read here: it is cheap, and the user's own; built-in sources may take minutes
    to build and are read once, by the run."""
    from pipeline.core.config import ConfigError
    from pipeline.engine.tasks import load_tasks

    if config.tasks.source != "jsonl":
        return []
    try:
        tasks = load_tasks(config.tasks)
    except ConfigError as exc:  # names the file and the line
        return [str(exc)]
    places = [f"{config.tasks.path}:{n}" for n in task_lines(config.tasks.path)]
    return [p for p in (unfit_tasks(role, name, check, tasks, places) for role, name, check in checks(config)) if p]


def task_lines(path: str) -> list[int]:
    """The line number of each task in a task file (tasks are its non-blank lines, in order)."""
    return [n for n, line in enumerate(Path(path).read_text().splitlines(), start=1) if line.strip()]


def checks(config: RunConfig) -> list[tuple[str, str, TaskCheck]]:
    from agents.requirements import check_task as strategy_check
    from pipeline.judging.task_requirements import check_task as verifier_check

    wanted = [("verifier", config.verifier, verifier_check), ("strategy", config.strategy, strategy_check)]
    if config.oracle:
        wanted.append(("oracle", config.oracle, verifier_check))
    return wanted


def unfit_tasks(role: str, name: str, check: TaskCheck, tasks: list[Task], places: list[str]) -> str | None:
    """One line for the tasks `name` cannot take: the first, where it is, and how many more."""
    unfit = [(place, reason) for task, place in zip(tasks, places) if (reason := check(name, task))]
    if not unfit:
        return None
    place, reason = unfit[0]
    more = f" ({len(unfit) - 1} more tasks too)" if len(unfit) > 1 else ""
    return f"{place}: {reason}{more}: fix the task file, or choose another {role}"
