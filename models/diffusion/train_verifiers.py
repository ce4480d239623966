"""Train the two digit verifiers: "search" on half a of the digits, "heldout" on half b.

    python -m models.diffusion.train_verifiers --out models/digit-verifiers --seed 0

Same CNN (pipeline.judging.image_verifiers.build_classifier), disjoint data, different seeds: each
is scored on the half it never saw. Saved as model.safetensors + config.json (no pickle).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from models.diffusion.digits import IMAGE_SIZE, load_half

CONFIG = {"width": 16, "hidden": 64, "image_size": IMAGE_SIZE, "classes": 10}
HALVES = {"search": "a", "heldout": "b"}


def quantised(images):
    """What a verifier sees at inference: images that went through uint8 PNG pixels."""
    return ((images + 1) * 127.5).round() / 127.5 - 1


def shifted(batch, generator):
    """Random shifts of up to one pixel: cheap augmentation for ~900 training images."""
    import torch

    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=generator))
    return torch.roll(batch, shifts=(dy, dx), dims=(2, 3))


def train_classifier(images, labels, epochs: int = 40, batch_size: int = 64, lr: float = 2e-3, seed: int = 0):
    import torch

    from pipeline.judging.image_verifiers import build_classifier

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(quantised(images)), torch.from_numpy(labels)
    model = build_classifier(CONFIG)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(model(shifted(x[index], generator)), y[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def accuracy(model, images, labels) -> float:
    import torch

    with torch.no_grad():
        predicted = model(torch.from_numpy(quantised(images))).argmax(-1).numpy()
    return float((predicted == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/digit-verifiers")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    for offset, (name, half) in enumerate(HALVES.items()):
        started = time.perf_counter()
        other = "b" if half == "a" else "a"
        model = train_classifier(*load_half(half), epochs=args.epochs, seed=args.seed + offset)
        folder = Path(args.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        save_file(model.state_dict(), folder / "model.safetensors")
        facts = {**CONFIG, "trained_on_half": half, "seed": args.seed + offset, "epochs": args.epochs,
                 "accuracy_on_half_" + other: accuracy(model, *load_half(other)),
                 "train_s": round(time.perf_counter() - started, 1)}
        (folder / "config.json").write_text(json.dumps(facts, indent=1))
        print(json.dumps({"verifier": name, **facts}), flush=True)


if __name__ == "__main__":
    main()
