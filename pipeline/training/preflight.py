"""What `ttc train` checks before Ray starts: the model folder, the data and the split guard."""
from __future__ import annotations

from pipeline.core.config import ConfigError
from pipeline.training.config import TrainConfig


def train_problems(config: TrainConfig) -> list[str]:
    """One line per problem; empty when the config can train."""
    from pipeline.generators.hf import check_model_folder
    from pipeline.judging.verifiers import VERIFIERS
    from pipeline.training.data import train_tasks_of, verified_examples

    problems = []
    try:
        check_model_folder(config.model.path)
    except FileNotFoundError as exc:
        problems.append(f"model.path: {exc}")
    try:
        if config.method == "rl_verifier":
            if config.rl.verifier not in VERIFIERS:
                problems.append(f"rl.verifier: unknown verifier {config.rl.verifier!r}; valid: "
                                f"{', '.join(sorted(VERIFIERS))}")
            train_tasks_of(config.rl.tasks, "rl.tasks")
        else:
            verified_examples(config.data.run_dir, config.data.max_examples)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems
