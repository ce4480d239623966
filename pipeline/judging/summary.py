"""summary.json of a run, computed from what is on disk (so a resumed run summarises all of it)."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pipeline.judging.evaluation import coverage_curve, held_out_split, recommend_n, selector_report
from pipeline.core.types import Selection


def per_task_counts(samples: list[dict], task_ids: list[str]) -> dict[str, tuple[int, int]]:
    counts = {tid: [0, 0] for tid in task_ids}
    for s in samples:
        if s["task_id"] in counts:
            counts[s["task_id"]][0] += 1
            counts[s["task_id"]][1] += bool(s["passed"])
    return {tid: (n, c) for tid, (n, c) in counts.items()}


def curve_points(n_max: int) -> list[int]:
    points = sorted({1, n_max, *(2**i for i in range(n_max.bit_length()) if 2**i <= n_max)})
    return points


def target_of(counts: dict[str, tuple[int, int]], target_n: int | None = None) -> int:
    """The samples wanted per task; never below the most a task has, which also stands in
    for a target that is not known."""
    return max([target_n or 0, *(n for n, _ in counts.values())])


def at_target(counts: dict[str, tuple[int, int]], target_n: int | None = None) -> dict[str, tuple[int, int]]:
    """Every task's (n, c) at the target n: samples that never arrived (errors, early stop,
    budgets) count as failures, so no task leaves the denominator and none cuts k short."""
    target = target_of(counts, target_n)
    return {tid: (target, c) for tid, (_, c) in counts.items()}


def coverage(counts: dict[str, tuple[int, int]], target_n: int | None = None) -> dict[int, float]:
    """Mean pass@k over every task, for k = 1..target n (see `at_target`)."""
    target = target_of(counts, target_n)
    if not counts or target == 0:
        return {}
    return coverage_curve(list(at_target(counts, target).values()), range(1, target + 1))


def sample_accounting(samples: list[dict], errors: list[dict], selections: list[dict], task_ids: list[str],
                      target_n: int) -> dict[str, int]:
    """Where the target n samples of each task went, beside the curve that counts every
    missing one as a failure. An error counts while it is not made good: a failed chunk
    until its samples are stored (a resumed run redoes it), a failed selection until the
    task has one. Missing samples no error explains were never drawn (early stop, budgets)."""
    stored: dict[str, set[int]] = defaultdict(set)
    for s in samples:
        stored[s["task_id"]].add(s["sample_index"])
    selected = {s["task_id"] for s in selections}
    lost: dict[str, set[int]] = defaultdict(set)
    failed_selection = set()
    for e in errors:
        tid, start, n = e.get("task_id"), e.get("start", 0), e.get("n", target_n)
        if n == 0 and tid not in selected:  # the selection step failed (runner.select_task)
            failed_selection.add(tid)
        lost[tid] |= set(range(start, min(start + n, target_n))) - stored[tid]
    missing = sum(max(0, target_n - len(stored[t])) for t in task_ids)
    samples_lost = sum(len(lost[t]) for t in task_ids)
    return {"tasks_with_errors": sum(bool(lost[t]) or t in failed_selection for t in task_ids),
            "tasks_short": sum(len(stored[t]) < target_n for t in task_ids),
            "samples_lost": samples_lost, "samples_not_drawn": missing - samples_lost}


def with_abstentions(selections: list[Selection], task_ids: list[str]) -> list[Selection]:
    """Each selector's picks plus an abstention for every task it has none for (its task
    failed before or during selection), so a selector's accuracy is over every task."""
    picked = {(s.selector, s.task_id) for s in selections}
    missing = [Selection(task_id=tid, selector=name, abstained=True)
               for name in sorted({s.selector for s in selections}) for tid in task_ids
               if (name, tid) not in picked]
    return selections + missing


def early_stop_savings(samples: list[dict]) -> dict[str, Any]:
    """What stopping each task at its first passing sample (an exact verifier) would have cost,
    replayed on the samples in their drawn order: same accuracy as first_passing at N."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        by_task[s["task_id"]].append(s)
    fixed = used = 0
    for rows in by_task.values():
        rows.sort(key=lambda r: r["sample_index"])
        first = next((i for i, r in enumerate(rows) if r["passed"]), None)
        fixed += len(rows)
        used += len(rows) if first is None else first + 1
    return {"samples_fixed_n": fixed, "samples_early_stop": used,
            "saved_fraction": 1 - used / fixed if fixed else 0.0}


def confidence_stop_savings(samples: list[dict]) -> dict[str, Any]:
    """Traces the backend stopped for low confidence (DeepConf online) and the tokens that saved:
    each stopped trace could have run to its token cap, so the saving is an upper bound (it might
    have ended sooner). Samples a settled task never drew are in samples_not_drawn."""
    completions = [s["trajectory"]["completion"] for s in samples]
    stopped = [c for c in completions if c.get("finish_reason") == "low_confidence"]
    generated = sum(c["completion_tokens"] for c in completions)
    saved = sum(max(0, (c.get("token_cap") or 0) - c["completion_tokens"]) for c in stopped)
    return {"samples_with_confidence": sum(c.get("confidence") is not None for c in completions),
            "traces_stopped": len(stopped), "tokens_generated": generated,
            "tokens_saved_at_most": saved, "tokens_without_stopping_at_most": generated + saved,
            "saved_fraction_at_most": saved / (generated + saved) if generated + saved else 0.0}


def diversity_summary(samples: list[dict], task_records=()) -> dict[str, float | None]:
    by_task: dict[str, set] = defaultdict(set)
    totals: dict[str, int] = defaultdict(int)
    for s in samples:
        by_task[s["task_id"]].add(s["candidate_key"])
        totals[s["task_id"]] += 1
    ratios = [len(keys) / totals[t] for t, keys in by_task.items()]
    outputs = [r["distinct_outputs"] for r in task_records if r.get("distinct_outputs") is not None]
    return {"mean_distinct_candidates": sum(len(k) for k in by_task.values()) / max(len(by_task), 1),
            "mean_distinct_ratio": sum(ratios) / max(len(ratios), 1),
            "mean_distinct_outputs": sum(outputs) / len(outputs) if outputs else None}


def per_task_table(counts: dict[str, tuple[int, int]], task_records: list[dict],
                   target_n: int | None = None) -> dict[str, dict]:
    """Per task, diversity beside coverage: samples (stored), samples missing from the target
    n, correct, distinct programs/answers and distinct behaviours (outputs on probe inputs,
    when the task has them)."""
    records = {r["task_id"]: r for r in task_records}
    counted = at_target(counts, target_n)
    return {tid: {"samples": n, "missing": counted[tid][0] - n, "correct": c,
                  "distinct_candidates": records.get(tid, {}).get("distinct_keys"),
                  "distinct_outputs": records.get(tid, {}).get("distinct_outputs"),
                  "tokens": records.get(tid, {}).get("tokens")}
            for tid, (n, c) in counts.items()}


def union_seconds(intervals: list[tuple[float, float]]) -> tuple[float, float]:
    """Covered length of a set of [start, end] spans, and the whole span's length."""
    spans = sorted(tuple(i) for i in intervals)
    if not spans:
        return 0.0, 0.0
    covered, (cur_start, cur_end) = 0.0, spans[0]
    for start, end in spans[1:]:
        if start > cur_end:
            covered += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    return covered + cur_end - cur_start, max(end for _, end in spans) - spans[0][0]


def generator_utilisation(chunks: list[dict]) -> dict[str, float]:
    """How much of the sampling phase (first generation to last stored sample) the generator
    actors were busy generating. Everything else on that critical path (scheduling,
    serialization, verification stalls and the verification tail, bookkeeping) is overhead."""
    intervals = [tuple(i) for c in chunks for i in c.get("gen_intervals", [])]
    busy, _ = union_seconds(intervals)
    ends = [c["done_at"] for c in chunks if "done_at" in c]
    span = max(ends) - min(start for start, _ in intervals) if intervals and ends else 0.0
    return {"generator_busy_s": busy, "sampling_span_s": span,
            "pipeline_overhead_fraction": 1 - busy / span if span else 0.0}


def time_split(chunks: list[dict], wall_s: float) -> dict[str, float]:
    total = {k: sum(c.get(k, 0.0) for c in chunks) for k in ("wall_s", "generation_s", "execution_s", "queue_s")}
    samples = sum(c.get("samples", 0) for c in chunks) or 1
    busy = total["wall_s"] or 1e-9
    overhead = max(0.0, busy - total["generation_s"] - total["execution_s"])
    return {
        "run_wall_s": wall_s,
        "per_sample_generation_s": total["generation_s"] / samples,
        "per_sample_execution_s": total["execution_s"] / samples,
        "per_sample_queue_s": total["queue_s"] / samples,
        "per_sample_other_s": overhead / samples,
        "other_fraction": overhead / busy,
        **generator_utilisation(chunks),
    }


def verifier_quality(samples: list[dict], task_ids: list[str], target_n: int | None = None) -> dict[str, Any] | None:
    """The selector-visible verifier against ground truth (only when they differ, i.e. a run
    with an oracle): false-positive rate per sample, estimated on held-out tasks (Inference
    Scaling fLaws), and the N beyond which resampling stops paying at that rate."""
    if not any(s.get("verifier_passed") != s["passed"] for s in samples):
        return None
    _, held_out = held_out_split(task_ids)
    held = set(held_out)
    wrong = [s for s in samples if not s["passed"] and s["task_id"] in held]
    right = [s for s in samples if s["passed"] and s["task_id"] in held]
    fp_rate = sum(bool(s.get("verifier_passed")) for s in wrong) / len(wrong) if wrong else 0.0
    counts = per_task_counts(samples, task_ids)
    per_task_p = [c / n for n, c in at_target(counts, target_n).values() if n]
    recommendation = recommend_n(coverage(counts, target_n), fp_rate, per_task_p=per_task_p)
    return {"held_out_tasks": len(held_out), "false_positive_rate": fp_rate,
            "true_positive_rate": sum(bool(s.get("verifier_passed")) for s in right) / len(right) if right else None,
            "recommended_n": recommendation.n, "accuracy_ceiling": recommendation.ceiling,
            "modelled_accuracy_at_n": recommendation.accuracy_at_n}


def summarise(task_ids: list[str], samples: list[dict], selections: list[dict], errors: list[dict],
              chunks: list[dict], wall_s: float, task_records: list[dict] = (),
              target_n: int | None = None) -> dict[str, Any]:
    """`target_n`: samples wanted per task (runner.target_samples); every task counts at it."""
    counts = per_task_counts(samples, task_ids)
    target_n = target_of(counts, target_n)
    curve = coverage(counts, target_n)
    picks = [Selection.model_validate({k: v for k, v in s.items() if k != "key"}) for s in selections]
    per_task_p = [c / n for n, c in at_target(counts, target_n).values() if n]
    return {
        "tasks": len(task_ids),
        "samples": len(samples),
        "target_samples_per_task": target_n,
        **sample_accounting(samples, errors, selections, task_ids, target_n),
        "errors": len(errors),
        "errors_by_kind": dict(Counter(e.get("kind", "?") for e in errors)),
        "tokens": sum(s["trajectory"]["completion"]["completion_tokens"] for s in samples),
        "pass_at_k": {k: curve[k] for k in curve_points(target_n)} if curve else {},
        "coverage_curve": curve,
        "selectors": selector_report(with_abstentions(picks, task_ids), counts) if picks else {},
        "diversity": diversity_summary(samples, task_records),
        "per_task": per_task_table(counts, list(task_records), target_n),
        "early_stop": early_stop_savings(samples),
        "confidence_stop": confidence_stop_savings(samples),
        "recommended_n": recommend_n(curve, 0.0, per_task_p=per_task_p).__dict__ if curve else None,
        "verifier_vs_ground_truth": verifier_quality(samples, task_ids, target_n) if curve else None,
        "time": time_split(chunks, wall_s),
    }
