"""Plots of a run: the coverage curve (pass@k over k on a log axis, as in Large Language Monkeys)."""
from __future__ import annotations

from pathlib import Path


def plot_coverage(curve: dict[int, float], path: Path, title: str = "coverage") -> Path | None:
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(curve)
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.plot(ks, [curve[k] for k in ks], marker="o" if len(ks) < 20 else None)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("samples k")
    ax.set_ylabel("coverage (pass@k)")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
