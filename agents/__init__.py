"""Strategies: each an Agent from a Task to trajectories and candidates (plain Python, no Ray)."""
from __future__ import annotations

import importlib
import inspect

from pydantic import ValidationError

from agents.options import StrategyOptions
from pipeline.core.config import format_validation_error
from pipeline.core.registry import lookup
from pipeline.core.types import Task

AGENTS: dict[str, str] = {
    "repeated_sampling": "agents.repeated_sampling:RepeatedSampling",
    "monitor_guided": "agents.monitor_guided:MonitorGuided",
    "noise_search": "agents.noise_search:NoiseSearch",
    "quiet_star": "agents.quiet_star:QuietStar",
    "codemonkeys": "agents.codemonkeys:CodeMonkeys",
    "prm_search": "agents.prm_search:PRMSearch",
}


def agent_class(name: str):
    module_name, attr = lookup(AGENTS, name, "strategy").split(":")
    return getattr(importlib.import_module(module_name), attr)


def options_model(name: str) -> type[StrategyOptions] | None:
    """The strategy's declared options, or None for one that declares none (checked by its
    constructor alone, e.g. a strategy registered at run time)."""
    model = getattr(agent_class(name), "Options", None)
    return model if isinstance(model, type) and issubclass(model, StrategyOptions) else None


def parse_options(name: str, options: dict | None) -> StrategyOptions | None:
    """The strategy's options checked against its model; ValueError names the bad option."""
    model = options_model(name)
    if model is None:
        return None
    try:
        return model.model_validate(options or {})
    except ValidationError as err:
        raise ValueError(f"strategy {name!r}: {format_validation_error(err, 'strategy_options')}") from None


def unfit_reason(name: str, options: StrategyOptions | None, task: Task, backend: str) -> str | None:
    """Why strategy `name` with `options` cannot take `task` on `backend`, or None."""
    if options is None:
        return None
    if task.kind not in options.task_kinds:
        return f"strategy {name!r} takes tasks of kind {', '.join(options.task_kinds)}, not {task.kind!r}"
    if backend not in options.needed_backends():
        return (f"strategy {name!r} needs model.backend {' or '.join(options.needed_backends())}; "
                f"this run's is {backend!r}")
    from agents.requirements import check_task  # the shared table ttc run's preflight reads too

    return options.task_problem(task) or check_task(name, task)


def make_agent(name: str, run_facts: dict | None = None, **options):
    """The agent `name` built with `options` (checked against its Options model when it has
    one); `run_facts` (e.g. the run's `model_path`) fill in the constructor parameters of the
    same name that the options leave out."""
    factory = agent_class(name)
    checked = parse_options(name, options)
    if checked is not None:  # the options as given, coerced; unset ones keep the constructor's defaults
        options = checked.model_dump(exclude_unset=True, exclude_none=True)
    accepted = inspect.signature(factory).parameters
    facts = {k: v for k, v in (run_facts or {}).items() if k in accepted and k not in options}
    return factory(**facts, **options)
