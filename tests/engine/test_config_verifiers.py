"""The README's verifiers that no other test runs from a config: reward_model (configs/demo_reward.yaml)
and visible_tests (configs/demo.yaml with verifier=visible_tests), each judged against the hidden
unit tests as oracle, through `ttc run`'s entry point on a local Ray, the shipped tiny-coder and the
Docker sandbox."""
import json
from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.core.config import load_config
from pipeline.engine.runner import run

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
SMALL = ["tasks.limit=3", "sampling.n=8", "sampling.max_new_tokens=48", "runner.chunk_size=4",
         "runner.max_in_flight=8", "model.device=cpu", "canaries=false"]


def read(run_dir: str, name: str) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / f"{name}.jsonl").read_text().splitlines()]


def verdicts_by_verifier(run_dir: str) -> dict[str, dict[str, dict]]:
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for verdict in read(run_dir, "verdicts"):
        found[verdict["verifier"]][verdict["candidate_key"]] = verdict
    return found


def test_demo_reward_config_scores_every_program_with_the_reward_model(ray_local, sandbox_image, tmp_path):
    result = run(load_config(ROOT / "configs/demo_reward.yaml", SMALL + [f"runner.output_dir={tmp_path}"]))
    assert result.summary["samples"] == 24 and result.summary["errors"] == 0
    verdicts = verdicts_by_verifier(result.run_dir)
    assert set(verdicts) == {"reward_model", "unit_tests"}
    scored = list(verdicts["reward_model"].values())
    assert all(v["details"]["model"].endswith("models/tiny-coder-rm") and 0.0 <= v["score"] <= 1.0 for v in scored)
    assert all(v["passed"] == (v["score"] >= 0.5) for v in scored)  # verifier_options.threshold
    assert len({round(v["score"], 6) for v in scored}) > 1  # a score per program, not a constant
    for sample in read(result.run_dir, "samples"):  # the selectors saw the reward model, the grade the tests
        assert sample["verifier_passed"] == verdicts["reward_model"][sample["candidate_key"]]["passed"]
        assert sample["passed"] == verdicts["unit_tests"][sample["candidate_key"]]["passed"]


def test_visible_tests_from_a_config_pass_every_program_the_hidden_tests_pass(ray_local, sandbox_image, tmp_path):
    overrides = SMALL + ["verifier=visible_tests", "oracle=unit_tests", f"runner.output_dir={tmp_path}"]
    result = run(load_config(ROOT / "configs/demo.yaml", overrides))
    assert result.summary["samples"] == 24 and result.summary["errors"] == 0
    verdicts = verdicts_by_verifier(result.run_dir)
    assert set(verdicts) == {"visible_tests", "unit_tests"}
    samples = read(result.run_dir, "samples")
    assert any(s["passed"] for s in samples), "tiny-coder solves some demo tasks"
    for sample in samples:  # the visible tests are the prompt's examples, a subset of the hidden ones
        assert sample["verifier_passed"] == verdicts["visible_tests"][sample["candidate_key"]]["passed"]
        assert sample["verifier_passed"] or not sample["passed"]
