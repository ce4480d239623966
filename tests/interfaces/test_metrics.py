"""Dashboard metrics: the Grafana dashboard reads only metrics pipeline/engine/metrics.py defines, and a
real run's metrics appear on Ray's Prometheus endpoint under the names the dashboard uses."""
import json
import re
import time
import urllib.request
import uuid
from collections import defaultdict

import pytest

from pipeline.core.config import load_config
from pipeline.engine.metrics import RunMetrics
from pipeline.engine.runner import run
from tests.interfaces.conftest import DEMO, ROOT, small_run

SERIES = re.compile(r"\bray_(ttc_\w+?)(?:_total|_bucket|_sum|_count)?\b")


def defined_metrics() -> set[str]:
    return set(re.findall(r'"(ttc_\w+)"', (ROOT / "pipeline" / "engine" / "metrics.py").read_text()))


def dashboard() -> dict:
    return json.loads((ROOT / "configs" / "grafana_dashboard.json").read_text())


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def test_dashboard_is_grafana_json_over_ttc_metrics_only():
    board, defined = dashboard(), defined_metrics()
    assert board["schemaVersion"] >= 36 and board["uid"] and board["title"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["type"] in {"timeseries", "stat"} and panel["gridPos"]["w"] > 0 and panel["targets"]
        for target in panel["targets"]:
            used = SERIES.findall(target["expr"])
            assert used and set(used) <= defined, (panel["title"], target["expr"])
    assert {m for e in dashboard_exprs() for m in SERIES.findall(e)} == defined  # every metric on a panel
    latency = " ".join(e for e in dashboard_exprs() if "sandbox_exec_seconds" in e)
    assert "histogram_quantile(0.5," in latency and "histogram_quantile(0.95," in latency


def scrape(port: int) -> dict[str, float]:
    """`name{run=...}` sums of ttc series (Ray keeps one series per reporting worker)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    totals: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ray_ttc_") and "le" not in sample.labels:
                totals[f"{sample.name}{{run={sample.labels.get('run')}}}"] += sample.value
    return totals


def write_tasks(path) -> None:
    """Two held-out synthetic tasks: one tiny-coder never solves and one it always solves (0 and
    256 of 256 samples in benchmarks/coverage_curve's run): the verifier passes nothing a model
    did not get right, so a passing candidate needs a model that can write one."""
    from pipeline.engine.tasks import load_tasks

    tasks = load_tasks(load_config(DEMO, ["tasks.limit=6"]).tasks)
    path.write_text(tasks[2].model_dump_json() + "\n" + tasks[5].model_dump_json() + "\n")


@pytest.mark.docker
def test_a_runs_metrics_reach_rays_prometheus_endpoint(ray_local, sandbox_image, tmp_path):
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    write_tasks(tmp_path / "tasks.jsonl")
    run(load_config(DEMO, small_run(str(ROOT / "models" / "tiny-coder"), tmp_path, **{
        "name": name, "sampling.max_new_tokens": 128, "tasks.source": "jsonl", "tasks.path": tmp_path / "tasks.jsonl"})))
    RunMetrics(name).error("ProbeError")  # a healthy run has no error to count
    port = next(n["MetricsExportPort"] for n in ray_local.nodes() if n["Alive"])
    wanted = defined_metrics()
    deadline, seen = time.monotonic() + 45, {}
    while time.monotonic() < deadline:  # Ray exports every few seconds
        seen = {k: v for k, v in scrape(port).items() if k.endswith(f"{{run={name}}}")}
        if {SERIES.match(k).group(1) for k in seen} >= wanted and seen.get(f"ray_ttc_tasks_done_total{{run={name}}}") == 2:
            break
        time.sleep(2)
    assert {SERIES.match(k).group(1) for k in seen} >= wanted, sorted(seen)
    value = lambda metric: seen[f"ray_ttc_{metric}{{run={name}}}"]  # noqa: E731
    assert value("samples_generated_total") == 8 and value("tasks_done_total") == 2
    assert value("candidates_passed_total") >= 1 and value("candidates_verified_total") >= value("candidates_passed_total")
    assert value("tokens_generated_total") > 0 and value("sandbox_exec_seconds_count") == value("candidates_verified_total")
    assert value("samples_in_flight") == 0 and value("errors_total") == 1
