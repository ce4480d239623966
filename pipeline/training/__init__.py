"""Training for test-time compute: fine-tune a model from its own verified samples.

Methods (`pipeline.training.methods.METHODS`): `sft_verified` (cross-entropy on a run's passing
samples: rejection-sampling fine-tuning / STaR), `dco` (direct coverage optimisation: a
pass@N-aware loss that stops pushing once the model is confident) and `rl_verifier` (policy
gradient on fresh samples rewarded by the task's verifier). `ttc train CONFIG` runs one under
Ray Train (`pipeline.training.trainer`); the loop itself (`loop.py`) is plain torch.

This layer sits between the interfaces and the engine: it reads tasks through the engine's
task-source registry and judges samples with the judging layer's verifiers.
"""
