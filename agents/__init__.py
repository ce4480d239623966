"""Strategies: each an Agent from a Task to trajectories and candidates (plain Python, no Ray)."""
from __future__ import annotations

import importlib

from pipeline.registry import lookup

AGENTS: dict[str, str] = {
    "repeated_sampling": "agents.repeated_sampling:RepeatedSampling",
    "monitor_guided": "agents.monitor_guided:MonitorGuided",
    "noise_search": "agents.noise_search:NoiseSearch",
    "quiet_star": "agents.quiet_star:QuietStar",
}


def make_agent(name: str, **options):
    module_name, attr = lookup(AGENTS, name, "strategy").split(":")
    return getattr(importlib.import_module(module_name), attr)(**options)
