"""prm_search: step-level search guided by a process reward model (agents/prm_search/agent.py)."""
from agents.prm_search.agent import PRMSearch, PRMSearchOptions

__all__ = ["PRMSearch", "PRMSearchOptions"]
