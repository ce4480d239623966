"""`ttc train` under Ray Train: a TorchTrainer runs `loop.train` on `scaling.num_workers`
workers (one CPU each here, one GPU each with `scaling.use_gpu`); rank 0 reports each checkpoint
to Ray Train, which persists it; the driver copies them to the output folder:

    OUT/                       the last step's checkpoint (a transformers folder with a card)
    OUT/checkpoints/step-N/    every `checkpoint_every` steps, and the last
"""
from __future__ import annotations

import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from pipeline.training.config import TrainConfig


def resolved(config: TrainConfig) -> TrainConfig:
    """Paths made absolute (workers may run elsewhere) and the output folder chosen."""
    out = config.out_dir or f"runs/train-{config.name}-{datetime.now():%Y%m%d-%H%M%S}"
    update = {"model": config.model.model_copy(update={"path": str(Path(config.model.path).resolve())}),
              "out_dir": str(Path(out).resolve())}
    if config.data.run_dir:
        update["data"] = config.data.model_copy(update={"run_dir": str(Path(config.data.run_dir).resolve())})
    return config.model_copy(update=update)


def worker_loop(loop_config: dict) -> None:
    """One Ray Train worker."""
    import ray.train
    import ray.train.torch
    import torch

    from pipeline.training.checkpoint import save_checkpoint
    from pipeline.training.loop import train

    config = TrainConfig.model_validate(loop_config["config"])
    torch.set_num_threads(config.scaling.threads)
    rank, started = ray.train.get_context().get_world_rank(), time.perf_counter()
    dumped = config.model_dump(mode="json")

    def report(step: int, policy, tokenizer, curve: list[dict]) -> None:
        metrics = {"step": step, "loss": curve[-1]["loss"]}
        if rank != 0:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as folder:
            save_checkpoint(folder, policy, tokenizer, dumped, curve, time.perf_counter() - started)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder),
                             checkpoint_dir_name=f"step-{step:06d}")

    train(config, ray.train.torch.get_device(), rank,
          wrap=lambda model: ray.train.torch.prepare_model(model, move_to_device=False), on_checkpoint=report)


def fit(config: TrainConfig, ray_address: str | None = None) -> Path:
    """Trains under Ray Train; returns the output folder (the last checkpoint)."""
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from pipeline.engine.runner import init_ray

    config = resolved(config)
    init_ray(ray_address)
    storage = tempfile.mkdtemp(prefix="ttc_train_")
    try:
        trainer = TorchTrainer(
            worker_loop, train_loop_config={"config": config.model_dump(mode="json")},
            scaling_config=ScalingConfig(num_workers=config.scaling.num_workers, use_gpu=config.scaling.use_gpu),
            run_config=RunConfig(name=config.name, storage_path=storage,
                                 checkpoint_config=CheckpointConfig(num_to_keep=None)))
        result = trainer.fit()
        if result.error is not None or result.checkpoint is None:
            raise RuntimeError(f"Ray Train ended without a checkpoint: {result.error}")
        return copy_checkpoints(result, Path(config.out_dir), config.optim.steps)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def copy_checkpoints(result, out: Path, last_step: int) -> Path:
    for checkpoint, metrics in result.best_checkpoints or [(result.checkpoint, {"step": last_step})]:
        with checkpoint.as_directory() as folder:
            shutil.copytree(folder, out / "checkpoints" / f"step-{int(metrics['step']):06d}", dirs_exist_ok=True)
    with result.checkpoint.as_directory() as folder:
        shutil.copytree(folder, out, dirs_exist_ok=True)
    return out
