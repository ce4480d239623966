"""Image verifiers: score image candidates (base64 PNG) with a small classifier.

`digit_classifier`: a tiny CNN trained by models/diffusion/train_verifiers.py on one half of
the digits. score = its probability of the task's class (task.answer), passed = its argmax
is that class. Two checkpoints exist: "search" (half a, the verifier a search optimises) and
"heldout" (half b, never seen by the search: where the two disagree, the search hacked its
verifier). torch is imported when a verifier first scores, not when this module loads.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from pipeline.core.model_zoo import resolve_model_path
from pipeline.core.types import Candidate, Task, Verdict

CHECKPOINTS = {"search": "models/digit-verifiers/search", "heldout": "models/digit-verifiers/heldout"}
# Verdicts of the two checkpoints must carry different verifier names: the runner keeps (and
# resumes) the verifier's and the oracle's verdicts apart by that name.
VERDICT_NAMES = {"search": "digit_classifier", "heldout": "digit_classifier_heldout"}


def build_classifier(config: dict[str, Any]):
    """The CNN of a checkpoint's config.json: two conv+pool blocks, then an MLP head."""
    from torch import nn

    width, size, classes = config["width"], config["image_size"], config["classes"]
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, config["hidden"]), nn.ReLU(),
        nn.Linear(config["hidden"], classes))


def checkpoint_folder(checkpoint: str) -> Path:
    """A checkpoint name ("search", "heldout") or a folder holding config.json + model.safetensors."""
    folder = Path(resolve_model_path(CHECKPOINTS.get(checkpoint, checkpoint)))  # repository paths from anywhere
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"digit classifier checkpoint {checkpoint!r} ({folder}) needs config.json and "
                                f"model.safetensors; names: {', '.join(CHECKPOINTS)}; train with "
                                f"python -m models.diffusion.train_verifiers")
    return folder


def load_classifier(checkpoint: str):
    from safetensors.torch import load_file

    folder = checkpoint_folder(checkpoint)
    model = build_classifier(json.loads((folder / "config.json").read_text()))
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.eval()


def task_label(task: Task) -> int:
    label = task.metadata.get("label", task.answer)
    try:
        return int(label)
    except (TypeError, ValueError):
        raise ValueError(f"task {task.id!r} has no digit class (answer {task.answer!r}); "
                         f"digit_classifier needs answer '0'..'9'") from None


class DigitClassifierVerifier:
    """P(task's class) under a digit classifier; passed when it is the classifier's top class."""

    def __init__(self, checkpoint: str = "search", batch_size: int = 256):
        self.checkpoint, self.batch_size = checkpoint, batch_size
        self.name = VERDICT_NAMES.get(checkpoint, f"digit_classifier:{Path(checkpoint).name}")
        checkpoint_folder(checkpoint)  # a wrong name fails at construction, not at the first verdict
        self._model = None
        self._lock = threading.Lock()

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        label = task_label(task)
        decoded, errors = self._decode(candidates)
        good = [i for i, image in enumerate(decoded) if image is not None]
        probs = self.probabilities([decoded[i] for i in good]) if good else []
        by_index = dict(zip(good, probs))
        return [self._verdict(task, c, label, by_index.get(i), errors.get(i)) for i, c in enumerate(candidates)]

    def _decode(self, candidates: list[Candidate]) -> tuple[list, dict[int, str]]:
        from pipeline.generators.diffusion import image_from_png_base64

        decoded, errors = [], {}
        for i, candidate in enumerate(candidates):
            try:
                decoded.append(image_from_png_base64(candidate.content))
            except ValueError as exc:
                decoded.append(None)
                errors[i] = str(exc)
        return decoded, errors

    def _verdict(self, task: Task, candidate: Candidate, label: int, probs: list[float] | None,
                 error: str | None) -> Verdict:
        if probs is None:
            return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name, passed=False,
                           error=f"candidate is not a decodable image: {error}")
        predicted = max(range(len(probs)), key=probs.__getitem__)
        return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name,
                       passed=predicted == label, score=probs[label],
                       details={"checkpoint": self.checkpoint, "predicted": predicted, "label": label})

    def probabilities(self, images: list) -> list[list[float]]:
        """Class probabilities of uint8 images [H, W] (0 = background), as the classifier saw in training."""
        import numpy as np
        import torch

        with self._lock:
            if self._model is None:
                self._model = load_classifier(self.checkpoint)
            out = []
            for start in range(0, len(images), self.batch_size):
                batch = np.stack(images[start:start + self.batch_size]).astype(np.float32) / 127.5 - 1.0
                with torch.no_grad():
                    out += torch.softmax(self._model(torch.from_numpy(batch)[:, None]), -1).tolist()
        return out


def heldout_digit_classifier(checkpoint: str = "heldout", batch_size: int = 256) -> DigitClassifierVerifier:
    """The held-out checkpoint under its own name, for `oracle:` (the runner skips an oracle
    whose name equals the verifier's)."""
    return DigitClassifierVerifier(checkpoint, batch_size)
