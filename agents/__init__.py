"""Strategies: each an Agent from a Task to trajectories and candidates (plain Python, no Ray)."""
from __future__ import annotations

import importlib
import inspect

from pipeline.core.registry import lookup

AGENTS: dict[str, str] = {
    "repeated_sampling": "agents.repeated_sampling:RepeatedSampling",
    "monitor_guided": "agents.monitor_guided:MonitorGuided",
    "noise_search": "agents.noise_search:NoiseSearch",
    "quiet_star": "agents.quiet_star:QuietStar",
    "codemonkeys": "agents.codemonkeys:CodeMonkeys",
}


def make_agent(name: str, run_facts: dict | None = None, **options):
    """The agent `name` built with `options`; `run_facts` (e.g. the run's `model_path`) fill in
    the constructor parameters of the same name that the options leave out."""
    module_name, attr = lookup(AGENTS, name, "strategy").split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    accepted = inspect.signature(factory).parameters
    facts = {k: v for k, v in (run_facts or {}).items() if k in accepted and k not in options}
    return factory(**facts, **options)
