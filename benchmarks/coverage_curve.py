"""Coverage of repeated sampling against N (Large Language Monkeys in miniature), and what each
selector recovers of it (Inference Scaling fLaws), as JSON lines.

    python -m benchmarks.coverage_curve --tasks 24 --n 256 [overrides...]

Runs `ttc run` on configs/demo.yaml with N samples per task, then prints one line per k
(pass@k), one per selector (accuracy, precision, abstention next to coverage@N), a log-linear
fit of coverage against log2 k, and the run directory with its coverage plot.
"""
from __future__ import annotations

import argparse
import json
import math

from pipeline.core.config import load_config
from pipeline.engine.runner import run


def log_linear_fit(curve: dict[int, float]) -> dict[str, float]:
    """Least squares of coverage on log2(k): slope per doubling and R^2."""
    xs = [math.log2(k) for k in curve]
    ys = list(curve.values())
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs) or 1e-12
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    ss_res = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys) or 1e-12
    return {"slope_per_doubling": slope, "r2": 1 - ss_res / ss_tot}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    overrides = [f"tasks.limit={args.tasks}", f"sampling.n={args.n}", "name=coverage", *args.overrides]
    result = run(load_config(args.config, overrides))
    summary = result.summary
    for k, value in summary["pass_at_k"].items():
        print(json.dumps({"metric": "pass_at_k", "k": int(k), "value": round(value, 4)}))
    for name, report in summary["selectors"].items():
        print(json.dumps({"metric": "selector", "selector": name, **report}))
    points = {int(k): v for k, v in summary["pass_at_k"].items()}
    print(json.dumps({"metric": "log_linear_fit", **log_linear_fit(points)}))
    print(json.dumps({"metric": "run", "run_dir": result.run_dir, "plot": summary["coverage_plot"],
                      "samples": summary["samples"], "time": summary["time"], "early_stop": summary["early_stop"]}))


if __name__ == "__main__":
    main()
