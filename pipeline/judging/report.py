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


# --- the results table ttc run prints ----------------------------------------------------------


def format_results(summary: dict, warnings: list[str] = ()) -> str:
    """A short table of a run's summary.json: pass@k at 1 and powers of 2 up to n, each
    selector's accuracy, precision and abstention rate, where the time went, the canaries'
    verdicts and the run's warnings. Tolerates summaries of older runs that lack a key."""
    blocks = [[_headline(summary)], _pass_at_k(summary.get("pass_at_k") or {}),
              _selectors(summary.get("selectors") or {}), [_time(summary.get("time") or {})],
              [_canaries(summary.get("canaries"))], _warnings(list(warnings))]
    return "\n".join(line for block in blocks for line in block)


def _headline(summary: dict) -> str:
    per_task = summary.get("target_samples_per_task")
    errors = summary.get("errors", 0)
    return (f"results: {summary.get('tasks', 0)} tasks, {summary.get('samples', 0)} samples"
            + (f" ({per_task} per task)" if per_task else "") + (f", {errors} errors" if errors else ""))


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pass_at_k(pass_at_k: dict) -> list[str]:
    if not pass_at_k:
        return ["pass@k    (no samples)"]
    ks = sorted(pass_at_k, key=int)  # int keys in a live summary, str keys once read from JSON
    return _columns([["pass@k", *(f"k={k}" for k in ks)], ["", *(_rate(pass_at_k[k]) for k in ks)]])


def _selectors(selectors: dict) -> list[str]:
    if not selectors:
        return []
    rows = [["selector", "accuracy", "precision", "abstained"]]
    rows += [[name, _rate(r.get("accuracy")), _rate(r.get("precision")), _rate(r.get("abstention_rate"))]
             for name, r in sorted(selectors.items())]
    return _columns(rows)


def _time(split: dict) -> str:
    parts = {"generation": split.get("per_sample_generation_s", 0.0),
             "verification": split.get("per_sample_execution_s", 0.0), "other": split.get("per_sample_other_s", 0.0)}
    total = sum(parts.values()) or 1.0
    shares = ", ".join(f"{name} {seconds * 1000:.1f} ms ({seconds / total:.0%})" for name, seconds in parts.items())
    return f"time: {split.get('run_wall_s', 0.0):.1f} s wall; per sample: {shares}"


def _canaries(canaries: dict | None) -> str:
    if not canaries:
        return "canaries: none judged"
    return "canaries: " + "; ".join(f"{verifier} passed {r['passed']} of {r['judged']}"
                                    for verifier, r in sorted(canaries.items()))


def _warnings(warnings: list[str]) -> list[str]:
    return [f"warning: {w}" for w in warnings] if warnings else ["warnings: none"]
