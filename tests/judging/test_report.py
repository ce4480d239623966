"""The results table `ttc run` prints, from a summary that summarise() and canary_report() made."""
import json

from pipeline.judging.canaries import canary_report
from pipeline.judging.report import format_results
from pipeline.judging.summary import summarise


def samples(task_id: str, passed: list[bool]) -> list[dict]:
    return [{"task_id": task_id, "sample_index": i, "candidate_key": f"{task_id}{i}", "passed": p,
             "verifier_passed": p, "trajectory": {"completion": {"completion_tokens": 3}}} for i, p in enumerate(passed)]


def selection(task_id: str, selector: str, correct: bool | None) -> dict:
    abstained = correct is None
    return {"task_id": task_id, "selector": selector, "abstained": abstained,
            "candidate_key": None if abstained else f"{task_id}0", "correct": correct}


def real_summary() -> dict:
    stored = samples("a", [True, False, False, False]) + samples("b", [False] * 4)
    picks = [selection("a", "first_passing", True), selection("b", "first_passing", None),
             selection("a", "majority_vote", False), selection("b", "majority_vote", False)]
    chunks = [{"wall_s": 1.0, "generation_s": 0.6, "execution_s": 0.3, "queue_s": 0.0, "samples": 4},
              {"wall_s": 1.0, "generation_s": 0.6, "execution_s": 0.3, "queue_s": 0.0, "samples": 4}]
    summary = summarise(["a", "b"], stored, picks, [], chunks, 2.5, target_n=4)
    summary["canaries"] = canary_report([
        {"verifier": "unit_tests", "task_id": "a", "canary": "early_exit", "passed": False},
        {"verifier": "unit_tests", "task_id": "b", "canary": "return_none", "passed": True}])
    return summary


def test_the_table_shows_pass_at_k_selectors_time_canaries_and_warnings():
    table = format_results(real_summary(), ["verifier 'unit_tests' passed 1 known-bad canary: b/return_none"])
    lines = table.splitlines()
    assert lines[0] == "results: 2 tasks, 8 samples (4 per task)"
    assert lines[1].split() == ["pass@k", "k=1", "k=2", "k=4"]  # 1 and powers of 2 up to n
    assert lines[2].split() == ["0.125", "0.250", "0.500"]  # task a: 1 of 4 correct; b: none
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:6]}
    assert rows["selector"] == ["accuracy", "precision", "abstained"]
    assert rows["first_passing"] == ["0.500", "1.000", "0.500"]  # right on a, abstained on b
    assert rows["majority_vote"] == ["0.000", "0.000", "0.000"]
    assert lines[6] == ("time: 2.5 s wall; per sample: generation 150.0 ms (60%), verification 75.0 ms (30%), "
                        "other 25.0 ms (10%)")
    assert lines[7] == "canaries: unit_tests passed 1 of 2"
    assert lines[8] == "warning: verifier 'unit_tests' passed 1 known-bad canary: b/return_none"


def test_a_summary_read_back_from_json_prints_the_same():
    summary = real_summary()
    assert format_results(json.loads(json.dumps(summary))) == format_results(summary)  # str keys of pass@k


def test_an_older_or_empty_summary_still_prints():
    table = format_results({"tasks": 1, "samples": 0, "canaries": None})
    assert "pass@k    (no samples)" in table and "canaries: none judged" in table and "warnings: none" in table
