"""Train models/tiny-ddpm: a class-conditional diffusers UNet2DModel on the 16x16 digits.

    python -m models.diffusion.train_ddpm --out models/tiny-ddpm --steps 2400 --seed 0

Epsilon prediction under a DDPMScheduler (1,000 steps, cosine betas); label 10 is the
"no class" label (10% label dropout) so classifier-free guidance is possible. The saved
weights are an EMA of the trained ones. Output: a DDPMPipeline folder (model_index.json,
unet/, scheduler/) plus training_log.json; samplers load the scheduler config into DDIM.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from models.diffusion.digits import IMAGE_SIZE, load_images
from models.train_tiny import lr_at

WARMUP_STEPS = 100
NULL_LABEL = 10  # "no class": classifier-free guidance's unconditional branch


def build_unet():
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=IMAGE_SIZE, in_channels=1, out_channels=1, block_out_channels=(16, 32, 32),
        layers_per_block=1, norm_num_groups=8, num_class_embeds=NULL_LABEL + 1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))


def build_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")


def train(steps: int, batch_size: int = 64, lr: float = 2e-3, seed: int = 0, label_dropout: float = 0.1,
          ema_decay: float = 0.995, log_every: int = 100):
    """(EMA unet, scheduler, log) after `steps` optimiser steps on all digits."""
    import torch
    from diffusers.training_utils import EMAModel

    torch.manual_seed(seed)
    images, labels = (torch.from_numpy(a) for a in load_images())
    unet, scheduler = build_unet(), build_scheduler()
    ema = EMAModel(unet.parameters(), decay=ema_decay)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    log, running, started = [], 0.0, time.perf_counter()
    for step in range(steps):
        loss = train_step(unet, scheduler, optimiser, images, labels, batch_size, label_dropout)
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, steps, lr, WARMUP_STEPS)
        ema.step(unet.parameters())
        running += loss
        if (step + 1) % log_every == 0 or step + 1 == steps:
            count = (step % log_every) + 1
            log.append({"step": step + 1, "loss": running / count, "seconds": time.perf_counter() - started})
            print(json.dumps(log[-1]), flush=True)
            running = 0.0
    ema.copy_to(unet.parameters())
    return unet.eval(), scheduler, log


def train_step(unet, scheduler, optimiser, images, labels, batch_size: int, label_dropout: float) -> float:
    import torch

    index = torch.randint(0, len(images), (batch_size,))
    clean, label = images[index], labels[index].clone()
    label[torch.rand(batch_size) < label_dropout] = NULL_LABEL
    noise = torch.randn_like(clean)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,))
    predicted = unet(scheduler.add_noise(clean, noise, t), t, class_labels=label).sample
    loss = torch.nn.functional.mse_loss(predicted, noise)
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
    optimiser.step()
    return loss.item()


def save(unet, scheduler, out: Path, log: list[dict], args: dict) -> None:
    from diffusers import DDPMPipeline

    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(out)
    params = sum(p.numel() for p in unet.parameters())
    (out / "training_log.json").write_text(json.dumps({"args": args, "parameters": params, "log": log}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/tiny-ddpm")
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    unet, scheduler, log = train(args.steps, args.batch_size, args.lr, args.seed)
    save(unet, scheduler, Path(args.out), log, {**vars(args), "train_s": time.perf_counter() - started})
    print(json.dumps({"saved": args.out, "train_s": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
