"""prm_search end to end through `ttc run` on a local Ray: tiny-math generates in its actor,
tiny-math-prm scores steps in the `prm` verifier's actor, exact_answer is the ground truth."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.interfaces.cli import main

ROOT = Path(__file__).resolve().parents[2]


def read(run_dir: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (run_dir / f"{name}.jsonl").read_text().splitlines()]


def test_ttc_run_prm_search_on_arith_word(ray_local, tmp_path, capsys):
    code = main(["run", str(ROOT / "configs/prm_search.yaml"), "tasks.limit=2", "sampling.n=4",
                 "strategy_options.beam_width=2", "strategy_options.method=dvts", "model.device=cpu",
                 "verifier_options.device=cpu", "runner.chunk_size=4", f"runner.output_dir={tmp_path}"])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.strip().splitlines()[-1].removeprefix("run directory: "))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["samples"] == 8 and summary["errors"] == 0, summary
    samples = read(run_dir, "samples")
    assert {s["trajectory"]["steps"][0]["method"] for s in samples if s["trajectory"]["sample_index"] == 0} == {"dvts"}
    verdicts = read(run_dir, "verdicts")
    prm = [v for v in verdicts if v["verifier"] == "prm"]
    assert prm and all(len(v["details"]["step_scores"]) >= 1 and v["error"] is None for v in prm)
    assert {v["verifier"] for v in verdicts} == {"prm", "exact_answer"}
    selections = read(run_dir, "selections")
    assert len(selections) == 2 and {s["selector"] for s in selections} == {"agent_pick"}
    assert all(s["correct"] is not None for s in selections)
