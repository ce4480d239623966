"""CodeMonkeys: context, testing and editing trajectories, selection (see agent.py)."""
from agents.codemonkeys.agent import CodeMonkeys

__all__ = ["CodeMonkeys"]
