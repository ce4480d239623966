"""`ttc run` refuses a run that cannot work before Ray starts or a model loads: one line on
stderr naming the problem and its fix, exit code 2, within seconds, and no run directory.
Each case is a real `ttc run configs/demo.yaml` in a subprocess with one thing wrong."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.interfaces.conftest import DEMO, ROOT, small_run

TTC = ROOT / ".venv" / "bin" / "ttc"
QUICK_S = 10.0  # generous on a loaded 2-core machine; a local Ray alone takes longer to start


def ttc_run(tmp_path: Path, *overrides: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run([str(TTC), "run", str(DEMO), f"runner.output_dir={tmp_path / 'runs'}", *overrides],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **(env or {})})
    return done, time.perf_counter() - started


def assert_refused(done: subprocess.CompletedProcess, seconds: float, tmp_path: Path, *fragments: str) -> str:
    """Exit 2, one `ttc: error:` line holding every fragment, quickly, no Ray, no run directory."""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ttc: error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    assert "Started a local Ray" not in done.stdout + done.stderr
    assert not (tmp_path / "runs").exists()
    assert seconds < QUICK_S, f"took {seconds:.1f} s"
    print(f"refused in {seconds:.2f} s: {lines[0]}")
    return lines[0]


def docker_answers() -> bool:
    from pipeline.interfaces.doctor import check_docker

    return check_docker().ok


def test_a_missing_model_folder_is_refused(tmp_path):
    done, seconds = ttc_run(tmp_path, f"model.path={tmp_path / 'no-such-model'}")
    assert_refused(done, seconds, tmp_path, "no-such-model", "model.path", "does not exist", "ttc models list")


def test_a_model_folder_without_config_json_is_refused(tmp_path):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    done, seconds = ttc_run(tmp_path, f"model.path={folder}")
    assert_refused(done, seconds, tmp_path, "has no config.json", "hf backend")


def test_an_unreachable_docker_engine_is_refused(tmp_path):
    done, seconds = ttc_run(tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert_refused(done, seconds, tmp_path, "the Docker engine does not answer at unix:///nonexistent.sock",
                   "unit_tests", "start it, or run `ttc doctor`")


def test_a_missing_sandbox_image_is_refused(tmp_path):
    if not docker_answers():
        pytest.skip("needs a Docker engine that answers, to find the image missing")
    image = "ttc-sandbox:no-such-tag"
    done, seconds = ttc_run(tmp_path, f"sandbox.image={image}")
    assert_refused(done, seconds, tmp_path, repr(image), "sandbox.image", f"ttc sandbox build-image --tag {image}")


def test_a_task_without_tests_under_unit_tests_is_refused_naming_its_line(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    good = {"id": "add", "prompt": "def add(a, b):\n", "entry_point": "add", "tests": "assert add(1, 2) == 3\n"}
    bare = {"id": "sub", "prompt": "def sub(a, b):\n", "entry_point": "sub"}
    tasks.write_text(json.dumps(good) + "\n\n" + json.dumps(bare) + "\n")  # a blank line: the task is on line 3
    done, seconds = ttc_run(tmp_path, "tasks.source=jsonl", f"tasks.path={tasks}")
    assert_refused(done, seconds, tmp_path, f"{tasks}:3:", "'sub' has no tests", "unit_tests",
                   "fix the task file, or choose another verifier")


def test_an_unknown_verifier_is_refused_listing_the_valid_ones(tmp_path):
    done, seconds = ttc_run(tmp_path, "verifier=unit_test")
    assert_refused(done, seconds, tmp_path, "unknown verifier 'unit_test'", "valid:", "unit_tests")


def test_bad_strategy_and_selector_options_are_refused_before_ray(tmp_path):
    done, seconds = ttc_run(tmp_path, "strategy_options.early_stop=sometimes")
    assert_refused(done, seconds, tmp_path, "strategy 'repeated_sampling'", "strategy_options.early_stop")
    done, seconds = ttc_run(tmp_path, "selector_options.majority_vote.only_pased=true")
    assert_refused(done, seconds, tmp_path, "selector 'majority_vote'", "only_pased")


def test_a_step_search_without_a_step_scorer_is_refused_before_ray(tmp_path):
    done, seconds = ttc_run(tmp_path, "strategy=prm_search", "tasks.source=arith_word", "verifier=exact_answer",
                            "model.path=models/tiny-math", "selectors=[agent_pick]")
    assert_refused(done, seconds, tmp_path, "strategy 'prm_search' needs a verifier that scores each step",
                   "verifier: prm")


def test_a_server_backend_skips_the_model_folder_check(tmp_path):
    """openai_compat names a model on a server: no folder to look for (the Docker check still runs)."""
    from pipeline.core.config import load_config
    from pipeline.interfaces.preflight import model_problem

    config = load_config(DEMO, ["model.backend=openai_compat", "model.path=some-served-model",
                                "model.base_url=http://127.0.0.1:9/v1"])
    assert model_problem(config) is None
    assert "does not exist" in model_problem(load_config(DEMO, ["model.path=/no/such/folder"]))


@pytest.mark.docker
@pytest.mark.slow
def test_a_ready_run_passes_preflight_and_ends_with_the_results_table(tiny_random_model, sandbox_image, tmp_path):
    done, _ = ttc_run(tmp_path, *small_run(tiny_random_model, tmp_path / "runs"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.splitlines()
    assert out[-1].startswith("run directory: ")  # last, where scripts read it
    table = "\n".join(out)
    for fragment in ("results: 2 tasks, 8 samples", "pass@k", "k=1", "k=4", "majority_vote", "first_passing",
                     "time:", "generation", "verification", "canaries: unit_tests passed 0 of"):
        assert fragment in table, table
