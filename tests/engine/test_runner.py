"""The main job end to end on a real local Ray, a real (random-init) transformers model and the
Docker sandbox: run directory contents, dedup, and a killed run resumed equals an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.core.config import load_config
from pipeline.engine.runner import run

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]


def overrides(model, out):
    return [f"model.path={model}", "tasks.limit=3", "sampling.n=12", "sampling.max_new_tokens=24",
            "runner.chunk_size=4", "runner.max_in_flight=8", f"runner.output_dir={out}"]


def samples_by_key(run_dir):
    lines = (Path(run_dir) / "samples.jsonl").read_text().splitlines()
    return {json.loads(l)["key"]: json.loads(l)["content"] for l in lines}


def test_run_writes_a_complete_run_directory(ray_local, sandbox_image, tiny_random_model, tmp_path):
    result = run(load_config(ROOT / "configs/demo.yaml", overrides(tiny_random_model, tmp_path)))
    run_dir = Path(result.run_dir)
    for name in ("config.yaml", "provenance.json", "samples.jsonl", "verdicts.jsonl", "selections.jsonl",
                 "summary.json", "coverage.png"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["samples"] == 36 and summary["tasks"] == 3 and summary["errors"] == 0
    assert set(summary["selectors"]) == {"majority_vote", "first_passing"}
    verdicts = (run_dir / "verdicts.jsonl").read_text().splitlines()
    distinct = {json.loads(l)["candidate_key"] for l in (run_dir / "samples.jsonl").read_text().splitlines()}
    assert len(verdicts) == len(distinct)  # equal candidates judged once
    spent = summary["time"]  # where the time went: the warm containers' busy share, the driver's CPU
    executed = sum(json.loads(l)["details"]["duration_s"] for l in verdicts)
    assert spent["sandbox_containers"] == 2 and spent["sandbox_execution_s"] == pytest.approx(executed)
    assert 0 < spent["sandbox_busy_fraction"] <= 1
    assert spent["sandbox_busy_fraction"] == pytest.approx(executed / (2 * spent["run_wall_s"]))
    assert 0 < spent["driver_cpu_s"] and 0 < spent["driver_cpu_share"] <= os.cpu_count()
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["model_weights_sha256"] and provenance["sandbox_image_digest"].startswith("sha256:")


def test_every_run_judges_canaries_and_none_passes_the_harness(ray_local, sandbox_image, tiny_random_model, tmp_path):
    result = run(load_config(ROOT / "configs/demo.yaml", overrides(tiny_random_model, tmp_path)))
    report = result.summary["canaries"]["unit_tests"]
    assert report["judged"] == 3 * 4 and report["passed"] == 0 and result.warnings == []
    canaries = [json.loads(l) for l in (Path(result.run_dir) / "canaries.jsonl").read_text().splitlines()]
    assert {c["canary"] for c in canaries} == {"early_exit", "return_none", "always_equal", "reads_files"}
    assert all(c["reason"] or c["error"] for c in canaries)
    samples = (Path(result.run_dir) / "samples.jsonl").read_text()
    assert "_Anything" not in samples  # canaries are not samples
    off = run(load_config(ROOT / "configs/demo.yaml", overrides(tiny_random_model, tmp_path / "off") + ["canaries=false"]))
    assert off.summary["canaries"] == {}


def test_killed_run_resumes_to_the_uninterrupted_result(ray_local, sandbox_image, tiny_random_model, tmp_path):
    whole = run(load_config(ROOT / "configs/demo.yaml", overrides(tiny_random_model, tmp_path / "whole")))
    env = {**os.environ, "RAY_ADDRESS": ""}
    cmd = [sys.executable, "-m", "pipeline.interfaces.cli", "run", str(ROOT / "configs/demo.yaml"),
           *overrides(tiny_random_model, tmp_path / "killed")]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = tmp_path / "killed"
    deadline = time.time() + 240
    while time.time() < deadline and not any(len(p.read_text().splitlines()) >= 8 for p in samples.glob("*/samples.jsonl")):
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed_dir = next(samples.glob("*"))
    partial = len(samples_by_key(killed_dir))
    assert 0 < partial < 36
    resumed = run(load_config(ROOT / "configs/demo.yaml"), resume_dir=str(killed_dir))
    assert samples_by_key(resumed.run_dir) == samples_by_key(whole.run_dir)
    assert len((killed_dir / "samples.jsonl").read_text().splitlines()) == 36  # no duplicates


def test_missing_image_and_bad_model_stop_with_a_message_past_preflight(ray_local, tiny_random_model, tmp_path):
    """`ttc run` refuses these before Ray starts (tests/interfaces/test_preflight.py); the SDK
    has no preflight for them, and the actors' start fails naming the fix."""
    from benchmarks.tasks.synthetic_code import make_tasks
    from pipeline import Client
    from pipeline.engine.actors import StartupError

    task = make_tasks("test", n=1)[0]
    with Client(config=str(ROOT / "configs/demo.yaml"), model__path=tiny_random_model,
                sandbox__image="ttc-missing:none", runner__output_dir=str(tmp_path)) as client:
        with pytest.raises(StartupError, match="sandbox pool actor failed to start") as failed:
            client.best_of_n(task, n=2)
        assert "ttc sandbox build-image" in str(failed.value)
    with Client(config=str(ROOT / "configs/demo.yaml"), model__path=str(tmp_path / "no-model"),
                runner__output_dir=str(tmp_path)) as client:
        with pytest.raises(StartupError, match="generator actor failed to start.*does not exist"):
            client.best_of_n(task, n=2)
