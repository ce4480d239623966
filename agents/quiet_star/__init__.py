"""Quiet-STaR: thought tokens between text tokens, sampled in parallel, mixed by a learned head.

model.py the wrapper around a transformers causal LM; loss.py the training loss; train.py the
CPU / Ray Train script; agent.py the strategy (importing this package stays torch-free).
"""
from agents.quiet_star.agent import QuietStar

__all__ = ["QuietStar"]
