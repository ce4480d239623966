"""Diffusion noise search: search-verifier and held-out-verifier score vs NFE budget.

    python -m benchmarks.noise_search_bench --budgets 10,20,40,80,160,320 --seeds 0,1

For each algorithm (random, zero_order, paths) and NFE budget, one search per digit class
and seed with the search verifier in the loop; the picked image is then judged by the
held-out verifier, which the search never saw. Prints one JSON line per (algorithm, budget);
writes benchmarks/results/noise_search.png (scores vs NFE, log axis), noise_search_grid_<alg>.png
(picked images: a row per budget, a column per class, seed 0) and noise_search.jsonl.
--unconditional samples with the "no class" label, so only the search verifier picks the
class (files noise_search_unconditional*): the setting where verifier hacking shows.
Runs in-process (same algorithms and sampler the `noise_search` agent drives through Ray).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from agents.noise_search import SearchContext, sampler_callables, search
from pipeline.generators.diffusion import NULL_LABEL, png_base64
from pipeline.core.types import Candidate, Task

ALGORITHMS = ("random", "zero_order", "paths")


def classifier_score(verifier, label: int):
    task = Task(id=f"digit-{label}", kind="image", prompt=str(label), answer=str(label))

    def score(images) -> list[float]:
        candidates = [Candidate(task_id=task.id, sample_index=0, content=png_base64(i)) for i in images]
        return [v.score for v in verifier.verify(task, candidates)]

    return task, score


def one_search(generator, verifiers, algorithm: str, budget: int, label: int, seed: int, steps: int,
               unconditional: bool = False) -> dict:
    call = lambda method, *a, **k: getattr(generator, method)(*a, **k)  # noqa: E731
    denoise, renoise = sampler_callables(call, NULL_LABEL if unconditional else label, steps, 0.0, 1)
    task, score = classifier_score(verifiers["search"], label)
    ctx = SearchContext(denoise, renoise, score, tuple(generator.describe()["shape"]), steps, seed)
    found = search(algorithm, ctx, budget)
    candidate = Candidate(task_id=task.id, sample_index=0, content=png_base64(found.image))
    judged = {name: v.verify(task, [candidate])[0] for name, v in verifiers.items()}
    return {"image": found.image, "nfe": ctx.nfe, "search_score": judged["search"].score,
            "heldout_score": judged["heldout"].score, "search_pass": judged["search"].passed,
            "heldout_pass": judged["heldout"].passed}


def summarise(algorithm: str, budget: int, runs: list[dict], seconds: float) -> dict:
    mean = lambda key: round(float(np.mean([r[key] for r in runs])), 4)  # noqa: E731
    hacked = sum(r["search_pass"] and not r["heldout_pass"] for r in runs)
    return {"algorithm": algorithm, "nfe_budget": budget, "nfe_mean": mean("nfe"), "searches": len(runs),
            "search_score": mean("search_score"), "heldout_score": mean("heldout_score"),
            "search_accuracy": mean("search_pass"), "heldout_accuracy": mean("heldout_pass"),
            "search_pass_heldout_fail": hacked,
            "heldout_pass_search_fail": sum(r["heldout_pass"] and not r["search_pass"] for r in runs),
            "gap_search_minus_heldout": round(mean("search_score") - mean("heldout_score"), 4),
            "seconds": round(seconds, 1)}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for ax, metric in zip(axes, ("score", "accuracy")):
        for colour, algorithm in zip(("C0", "C1", "C2"), ALGORITHMS):
            mine = [r for r in rows if r["algorithm"] == algorithm]
            nfe = [r["nfe_mean"] for r in mine]
            ax.plot(nfe, [r[f"search_{metric}"] for r in mine], "-o", color=colour, label=f"{algorithm}: search")
            ax.plot(nfe, [r[f"heldout_{metric}"] for r in mine], "--s", color=colour, label=f"{algorithm}: held-out")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("NFEs per image (log)")
        ax.set_ylabel(f"mean verifier {metric}")
        ax.grid(True, alpha=0.3)
    axes[0].set_title("P(class): search verifier (solid) vs held-out (dashed)")
    axes[1].set_title("argmax == class")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def image_grid(rows_of_images: list[list[np.ndarray]], path: Path, scale: int = 4) -> None:
    from PIL import Image

    grid = np.concatenate([np.concatenate([np.pad(i, 1, constant_values=128) for i in row], axis=1)
                           for row in rows_of_images], axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/tiny-ddpm")
    parser.add_argument("--budgets", default="10,20,40,80,160,320")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--unconditional", action="store_true",
                        help="sample with the 'no class' label: the class comes from the search verifier only")
    args = parser.parse_args()
    import torch

    from pipeline.generators.diffusion import DiffusionGenerator
    from pipeline.judging.image_verifiers import DigitClassifierVerifier

    torch.set_num_threads(args.threads)
    generator = DiffusionGenerator(args.model, device="cpu", steps=args.steps)
    verifiers = {"search": DigitClassifierVerifier("search"), "heldout": DigitClassifierVerifier("heldout")}
    budgets, seeds = [int(b) for b in args.budgets.split(",")], [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, suffix = [], "_unconditional" if args.unconditional else ""
    for algorithm in args.algorithms.split(","):
        grid = []
        for budget in budgets:
            started = time.perf_counter()
            runs = [one_search(generator, verifiers, algorithm, budget, label, seed, args.steps, args.unconditional)
                    for label in range(10) for seed in seeds]
            rows.append({**summarise(algorithm, budget, runs, time.perf_counter() - started),
                         "conditioning": "none" if args.unconditional else "class"})
            print(json.dumps(rows[-1]), flush=True)
            grid.append([r["image"] for r in runs[:: len(seeds)]])  # seed 0 of each class
        image_grid(grid, out / f"noise_search{suffix}_grid_{algorithm}.png")
    (out / f"noise_search{suffix}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot(rows, out / f"noise_search{suffix}.png")


if __name__ == "__main__":
    main()
