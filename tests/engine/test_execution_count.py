"""One sandbox execution per distinct candidate, counted at the run's dispatcher on real Ray and
real Docker: the verdict and the behaviour fingerprint come out of the same execution, so a
behaviour vote (majority_vote, configs/demo.yaml's) adds none; canaries add one each."""
import pytest

from pipeline.core.config import load_config
from pipeline.engine.runner import Session, new_run_dir, target_samples
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState
from pipeline.engine.tasks import load_tasks
from pipeline.interfaces.sdk import _Quiet
from tests.interfaces.conftest import DEMO, ROOT, small_run

pytestmark = pytest.mark.docker


def test_a_voting_run_executes_each_distinct_candidate_once(ray_local, sandbox_image, tmp_path):
    config = load_config(DEMO, small_run(str(ROOT / "models" / "tiny-coder"), tmp_path,
                                         **{"tasks.limit": 3, "sampling.n": 8, "sampling.max_new_tokens": 64}))
    assert "majority_vote" in config.selectors
    session = Session(config)
    try:
        states = [TaskState(t, target_samples(config)) for t in load_tasks(config.tasks)]
        store = RunStore(new_run_dir(config))
        session.run_tasks(config, states, store, _Quiet())
        executions = session.sandbox_calls()
    finally:
        session.close()
    distinct = {(s["task_id"], s["candidate_key"]) for s in store.read("samples")}
    canaries = store.read("canaries")
    assert len(store.read("samples")) == 3 * 8 and store.read("errors") == []
    assert executions == len(distinct) + len(canaries) > 0
    assert all(v["details"].get("fingerprint") for v in store.read("verdicts"))  # votes read these
    assert len(store.read("selections")) == 3 * len(config.selectors)
