"""DeepConf end to end on a real local Ray with tiny-math: `ttc run`'s core (runner.run) with the
offline selector and the online early stop, the SDK with the same options, and `ttc serve`'s check
of them. Config keys as a benchmark would write them."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.config import build_config
from pipeline.engine.store import RunStore

TINY_MATH = str(Path(__file__).resolve().parents[2] / "models" / "tiny-math")
ONLINE = {"early_stop": "confidence", "warmup": 8, "keep_percent": 50, "confidence_window": 8}


def math_config(out: Path, temperature: float, strategy_options: dict, n: int = 24, in_flight: int = 16) -> dict:
    return {"name": "deepconf", "seed": 0,
            "tasks": {"source": "arith_word", "split": "test", "limit": 3},
            "model": {"backend": "hf", "path": TINY_MATH, "device": "cpu"},
            "sampling": {"n": n, "temperature": temperature, "max_new_tokens": 64},
            "strategy": "repeated_sampling", "strategy_options": strategy_options,
            "verifier": "exact_answer", "canaries": False,
            "selectors": ["majority_vote", "confidence_vote"],
            "selector_options": {"confidence_vote": {"keep_percent": 50, "measure": "lowest_window"}},
            "runner": {"chunk_size": 8, "max_in_flight": in_flight, "output_dir": str(out)}}


def test_run_with_online_early_stop_stops_traces_and_reports_the_tokens_saved(ray_local, tmp_path):
    from pipeline.engine.runner import run

    result = run(build_config(math_config(tmp_path, 1.0, ONLINE)))
    stats = result.summary["confidence_stop"]
    assert stats["samples_with_confidence"] == result.summary["samples"] == 72
    assert stats["traces_stopped"] > 0 and 0 < stats["tokens_saved_at_most"]
    assert stats["tokens_generated"] == result.summary["tokens"]
    samples = RunStore(result.run_dir).read("samples")
    for s in samples:
        completion = s["trajectory"]["completion"]
        if completion["finish_reason"] == "low_confidence":
            assert s["sample_index"] >= 8 and completion["completion_tokens"] < completion["token_cap"] == 64
            assert s["content"] == "" and not s["passed"]
    picks = RunStore(result.run_dir).read("selections")
    assert {p["selector"] for p in picks} == {"majority_vote", "confidence_vote"} and len(picks) == 6
    assert any(not p["abstained"] for p in picks if p["selector"] == "confidence_vote")


def test_a_settled_confidence_vote_stops_the_task_before_its_last_samples(ray_local, tmp_path):
    """Near-greedy samples agree; chunks run one at a time, so the vote can settle between them."""
    from pipeline.engine.runner import run

    result = run(build_config(math_config(tmp_path, 0.1, ONLINE, n=40, in_flight=8)))
    assert result.summary["samples_not_drawn"] > 0
    assert result.summary["samples"] + result.summary["samples_not_drawn"] == 3 * 40


def test_the_sdk_takes_the_same_options_and_refuses_bad_ones_before_any_work(ray_local, tmp_path):
    from pipeline import Client

    client = Client(config=math_config(tmp_path, 1.0, {}), output_dir=str(tmp_path / "sdk"))
    try:
        task = make_tasks("test", 1)[0]
        with pytest.raises(ValueError, match="strategy_options.warmup"):
            client.best_of_n(task, n=16, verifier="exact_answer", selector="confidence_vote",
                             strategy_options={**ONLINE, "warmup": 0})
        result = client.best_of_n(task, n=16, verifier="exact_answer", selector="confidence_vote",
                                  strategy_options=ONLINE)
        assert result.selection.selector == "confidence_vote"
        assert all(s.candidate.confidence is not None for s in result.candidates)
        assert any(s.candidate.stopped_early for s in result.candidates)
    finally:
        client.close()


def test_ttc_serve_checks_the_options_before_any_work():
    from pipeline.interfaces.serve import BestOfNHttpRequest, HttpError, ServeLimits, check_strategy_options

    base = math_config(Path("/tmp"), 1.0, {})
    task = make_tasks("test", 1)[0]
    for bad, field in (({"early_stop": "always"}, "early_stop"), ({"keep_percent": 101}, "keep_percent"),
                       ({"confidence_window": 0}, "confidence_window")):
        request = BestOfNHttpRequest(task=task, n=8, verifier="exact_answer", strategy_options={**ONLINE, **bad})
        with pytest.raises(HttpError, match=f"strategy_options.{field}") as error:
            check_strategy_options(request, ServeLimits(), base)
        assert error.value.status == 422
    check_strategy_options(BestOfNHttpRequest(task=task, n=8, strategy_options=ONLINE), ServeLimits(), base)


def test_the_config_blocks_of_docs_confidence_md_are_valid_configs():
    import re

    import yaml

    from agents import parse_options
    from pipeline.judging.selectors import make_selector

    page = (Path(__file__).resolve().parents[2] / "docs" / "confidence.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", page, flags=re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        config = build_config({**math_config(Path("/tmp"), 1.0, {}), **yaml.safe_load(block)})
        parse_options(config.strategy, config.strategy_options)
        assert make_selector("confidence_vote", **config.selector_options["confidence_vote"]).name == "confidence_vote"
