"""diffusers backend: a class-conditional UNet2DModel sampled with diffusers' DDIMScheduler.

The model folder is a DDPMPipeline folder (unet/, scheduler/), e.g. models/tiny-ddpm. A
prompt is a class ("7"); an image travels as a base64 PNG (Completion.text, Candidate.content).

Search strategies drive the sampler through its public methods (via GeneratorService.call):
  sample(noises, labels, ...)                  initial noise -> images (a full DDIM run)
  continue_from(states, labels, from_step, ..) a state at DDIM step `from_step` -> `to_step`
  renoise(states, from_step, to_step, ...)     forward-noise a state back to a noisier step
Each returns numpy arrays plus `nfe`, the UNet evaluations per image it cost.

Determinism: eta > 0 and re-noising draw row r's noise from `row_seed(seed, r)` and the step,
so a row's result depends on its seed and index only, never on the batch it ran in. Calls
hold one lock: the scheduler is set up per call, the model runs one call at a time.
"""
from __future__ import annotations

import base64
import io
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.types import Completion, SamplingParams

NULL_LABEL = 10  # the "no class" label the model was trained with (classifier-free guidance)
_LABEL = re.compile(r"\s*(?:digit[- ]?)?(\d)\s*", re.IGNORECASE)


def png_base64(image: np.ndarray) -> str:
    """A uint8 [H, W] image as a base64 PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image_from_png_base64(text: str) -> np.ndarray:
    """The uint8 [H, W] grey image of a base64 PNG; ValueError when it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (ValueError, UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a base64 PNG ({type(exc).__name__}: {str(exc)[:80]})") from None


def parse_label(prompt: str, classes: int = 10) -> int:
    """The class of a prompt like "7" or "digit-7"."""
    match = _LABEL.fullmatch(prompt) if isinstance(prompt, str) else None
    if not match or int(match.group(1)) >= classes:
        raise ValueError(f"prompt {str(prompt)[:40]!r} is not a class: expected '0'..'{classes - 1}' (or 'digit-N')")
    return int(match.group(1))


def to_uint8(x) -> np.ndarray:
    """Model space [-1, 1] [N, 1, H, W] -> uint8 [N, H, W]."""
    import torch

    return ((x[:, 0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def seeded_normal(seed: int, shape: tuple[int, ...]):
    import torch

    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class DiffusionGenerator:
    """Sampler of a class-conditional diffusers UNet2DModel; see the module docstring."""

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto", max_batch_size: int = 64,
                 steps: int = 10, eta: float = 0.0, guidance: float = 1.0):
        from diffusers import DDIMScheduler, UNet2DModel

        from pipeline.generators.hf import pick_device, pick_dtype

        path = Path(model_path)
        if not (path / "unet" / "config.json").is_file() or not (path / "scheduler").is_dir():
            raise FileNotFoundError(f"diffusion model folder {str(path)!r} needs unet/ and scheduler/ "
                                    f"(a DDPMPipeline folder, e.g. models/tiny-ddpm)")
        self.device = pick_device(device)
        self.dtype = torch_dtype = pick_dtype(dtype, self.device)
        self.unet = UNet2DModel.from_pretrained(path / "unet", torch_dtype=torch_dtype).to(self.device).eval()
        # trailing spacing: a few-step DDIM run starts from the last training timestep (pure noise)
        self.scheduler_config = {**DDIMScheduler.load_config(path / "scheduler"), "timestep_spacing": "trailing"}
        self.scheduler_class = DDIMScheduler
        self.max_batch_size, self.steps, self.eta, self.guidance = max_batch_size, steps, eta, guidance
        self.classes = NULL_LABEL
        self._lock = threading.Lock()

    # ------------------------------------------------------------ facts

    def describe(self) -> dict[str, Any]:
        """What a search needs to know: latent shape, default steps, classes."""
        config = self.unet.config
        return {"shape": [config.in_channels, config.sample_size, config.sample_size], "steps": self.steps,
                "eta": self.eta, "classes": self.classes, "nfe_per_step": self._nfe_per_step(self.guidance)}

    def new_scheduler(self, steps: int):
        scheduler = self.scheduler_class.from_config(self.scheduler_config)
        scheduler.set_timesteps(steps)
        return scheduler

    # ------------------------------------------------------------ search API

    def sample(self, noises, labels: list[int], steps: int | None = None, eta: float | None = None,
               seed: int = 0, guidance: float | None = None) -> dict[str, Any]:
        """Full DDIM runs from initial noises [N, C, H, W]: images uint8 [N, H, W], nfe per image."""
        return self.continue_from(noises, labels, 0, None, steps, eta, seed, guidance)

    def continue_from(self, states, labels: list[int], from_step: int, to_step: int | None = None,
                      steps: int | None = None, eta: float | None = None, seed: int = 0,
                      guidance: float | None = None) -> dict[str, Any]:
        """Denoise states at DDIM step `from_step` to `to_step` (default: the end). `latents` are
        the states at `to_step`; `images` the model's x0 prediction there (the sample at the end)."""
        steps = steps or self.steps
        to_step = steps if to_step is None else to_step
        if not 0 <= from_step <= to_step <= steps:
            raise ValueError(f"need 0 <= from_step ({from_step}) <= to_step ({to_step}) <= steps ({steps})")
        guidance = self.guidance if guidance is None else guidance
        labels = self._check_labels(labels, len(states))
        with self._lock:
            latents, x0 = self._denoise(self._tensor(states), labels, from_step, to_step, steps,
                                        self.eta if eta is None else eta, seed, guidance)
        return {"images": to_uint8(x0), "latents": latents.float().cpu().numpy(),
                "nfe": (to_step - from_step) * self._nfe_per_step(guidance)}

    def renoise(self, states, from_step: int, to_step: int, steps: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Forward-noise states at DDIM step `from_step` back to the noisier step `to_step` (no NFE)."""
        import torch

        steps = steps or self.steps
        if not 0 <= to_step <= from_step <= steps:
            raise ValueError(f"renoise goes back: need 0 <= to_step ({to_step}) <= from_step ({from_step}) <= steps")
        scheduler = self.new_scheduler(steps)
        alpha = self._alpha_at(scheduler, from_step) / self._alpha_at(scheduler, to_step)  # >= 1
        x = torch.as_tensor(np.asarray(states), dtype=torch.float32)
        noise = torch.stack([seeded_normal(self._row_seed(seed, r, -1), x.shape[1:]) for r in range(len(x))])
        renoised = x / alpha.sqrt() + (1 - 1 / alpha).sqrt() * noise
        return {"latents": renoised.numpy(), "nfe": 0}

    # ------------------------------------------------------------ Generator protocol

    def generate(self, prompts: list[str], params: SamplingParams, logits_processors: list | None = None
                 ) -> list[list[Completion]]:
        """For each class prompt, params.n images (base64 PNG) from seeded initial noises."""
        if logits_processors:
            raise ValueError("the diffusers backend samples images: it takes no logits processors")
        seed = params.seed if params.seed is not None else int(np.random.SeedSequence().entropy % 2**62)
        shape = tuple(self.describe()["shape"])
        out = []
        for p, prompt in enumerate(prompts):
            label = parse_label(prompt)
            noises = np.stack([seeded_normal(self._row_seed(seed, p * params.n + i, -2), shape).numpy()
                               for i in range(params.n)])
            result = self.sample(noises, [label] * params.n, seed=seed)
            out.append([Completion(text=png_base64(image), finish_reason="stop") for image in result["images"]])
        return out

    # ------------------------------------------------------------ internals

    def _denoise(self, x, labels, from_step: int, to_step: int, steps: int, eta: float, seed: int, guidance: float):
        import torch

        scheduler = self.new_scheduler(steps)
        x0 = x
        with torch.inference_mode():
            for i in range(from_step, to_step):
                t = scheduler.timesteps[i]
                eps = self._eps(x, t, labels, guidance)
                noise = self._step_noise(seed, i, x) if eta > 0 else None
                out = scheduler.step(eps.float(), t, x.float(), eta=eta, variance_noise=noise)
                x, x0 = out.prev_sample.to(self.dtype), out.pred_original_sample
        if from_step == to_step:  # nothing run: the x0 prediction is the state itself
            x0 = x
        return x, x0

    def _eps(self, x, t, labels, guidance: float):
        import torch

        chunks = []
        for start in range(0, len(x), self.max_batch_size):
            xs, ys = x[start:start + self.max_batch_size], labels[start:start + self.max_batch_size]
            eps = self.unet(xs, t, class_labels=ys).sample
            if guidance != 1.0:  # classifier-free guidance: the unconditional branch costs one more NFE
                plain = self.unet(xs, t, class_labels=torch.full_like(ys, NULL_LABEL)).sample
                eps = plain + guidance * (eps - plain)
            chunks.append(eps)
        return torch.cat(chunks)

    def _step_noise(self, seed: int, step: int, x):
        import torch

        rows = [seeded_normal(self._row_seed(seed, r, step), x.shape[1:]) for r in range(len(x))]
        return torch.stack(rows).to(x.device, torch.float32)

    @staticmethod
    def _row_seed(seed: int, row: int, step: int) -> int:
        from pipeline.generators.sampling import row_seed

        return row_seed(row_seed(seed, row), step) % 2**63

    @staticmethod
    def _alpha_at(scheduler, step: int):
        """alpha-bar at the state of DDIM step `step` (the final state: alpha-bar = 1)."""
        import torch

        if step >= len(scheduler.timesteps):
            return torch.tensor(1.0)
        return scheduler.alphas_cumprod[int(scheduler.timesteps[step])]

    @staticmethod
    def _nfe_per_step(guidance: float) -> int:
        return 1 if guidance == 1.0 else 2

    def _tensor(self, states):
        import torch

        return torch.as_tensor(np.asarray(states), dtype=torch.float32).to(self.device, self.dtype)

    def _check_labels(self, labels: list[int], count: int):
        import torch

        if len(labels) != count:
            raise ValueError(f"{len(labels)} labels for {count} states")
        bad = [label for label in labels if not 0 <= int(label) <= NULL_LABEL]
        if bad:
            raise ValueError(f"labels {bad[:5]} are not classes 0..{NULL_LABEL - 1} (or {NULL_LABEL}: no class)")
        return torch.tensor([int(label) for label in labels], device=self.device)

