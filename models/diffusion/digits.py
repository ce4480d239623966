"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline), upsampled.

Pixels go from 0..16 to [-1, 1] (the diffusion model's range). The fixed split gives two
disjoint halves: verifier A (search) trains on half "a", verifier B (held-out) on half "b";
the DDPM may use all images.
"""
from __future__ import annotations

import numpy as np

IMAGE_SIZE = 16
SPLIT_SEED = 0


def load_images(size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 1, size, size] float32 in [-1, 1], labels [N] int64), bilinear upsampling."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    big = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return (big.clamp(0, 1) * 2 - 1).numpy(), digits.target.astype(np.int64)


def split_indices(count: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Two disjoint halves of a fixed permutation: {"a": ..., "b": ...}."""
    order = np.random.default_rng(seed).permutation(count)
    return {"a": np.sort(order[: count // 2]), "b": np.sort(order[count // 2:])}


def load_half(half: str, size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    if half not in ("a", "b"):
        raise ValueError(f"half {half!r} is not one of 'a', 'b'")
    images, labels = load_images(size)
    index = split_indices(len(labels))[half]
    return images[index], labels[index]
