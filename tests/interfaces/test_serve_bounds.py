"""Every surface of `ttc serve` bounded, every failure answered early and plainly: strategy
options against their models and the server's caps, no server paths in a task, plain task ids,
requests that cannot run refused before any work, a run that failed entirely a 500, run
directories pruned, and a clean shutdown on SIGTERM. Plain functions first, then the real
server over loopback, then `ttc serve` as a process."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from agents import AGENTS, options_model, parse_options
from benchmarks.tasks.synthetic_code import make_tasks
from pipeline.core.config import ConfigError, build_config
from pipeline.core.types import Task
from pipeline.interfaces.sdk import (RUN_MARKER, Client, RunFailed, RunRetention, new_marked_run_dir, prune_runs)
from pipeline.interfaces.serve import HttpError, ServeLimits, make_settings, parse_request, sdk_error_status
from tests.interfaces.conftest import DEMO, ROOT, free_port, small_run, wait_answering

TASK = make_tasks("test", n=1)[0].model_dump(mode="json")
LONG_PROMPT = TASK["prompt"] + "    # a comment line that costs the tiny tokenizer a few tokens\n" * 60


def body(**fields) -> bytes:
    return json.dumps({"task": TASK, "n": 2, "max_new_tokens": 8, **fields}).encode()


def with_task(**fields) -> bytes:
    return body(task={**TASK, **fields})


def refusal(raw: bytes) -> tuple[int, str]:
    with pytest.raises(HttpError) as caught:
        parse_request(raw, ServeLimits())
    return caught.value.status, caught.value.message


# --- strategy options: the strategy's model, then the server's caps ---------------------------

OPTION_CASES = [
    (body(strategy="codemonkeys", strategy_options={"parallel": 100000, "turns": 100000}),
     "strategy_options.parallel: 100000 exceeds this server's max_parallel=16"),
    (body(strategy="codemonkeys", strategy_options={"turns": 9}), "strategy_options.turns: 9 exceeds this server's max_turns=8"),
    (body(strategy="noise_search", strategy_options={"nfe_budget": 1e9}),
     "strategy_options.nfe_budget: 1000000000.0 exceeds this server's max_nfe_budget=2000"),
    (body(strategy="quiet_star", strategy_options={"thought_length": 33}),
     "strategy_options.thought_length: 33 exceeds this server's max_thought_length=32"),
    (body(strategy="repeated_sampling", strategy_options={"turns": 2}),
     "strategy_options.turns: Extra inputs are not permitted"),
    (body(strategy="noise_search", strategy_options={"algorithm": "random", "radius": 0.5}),
     "algorithm 'random' takes options [], not ['radius']"),
    (body(strategy="monitor_guided", strategy_options={"tokenizer_path": "models/tiny-py"}),
     "strategy_options.tokenizer_path: a path on the server is not accepted over HTTP"),
    (body(strategy="quiet_star", n=256, max_new_tokens=4096, strategy_options={"n_thoughts": 2}),
     "over this server's max_total_tokens=1048576"),
    (body(strategy="no_such_strategy"), "strategy: unknown strategy 'no_such_strategy'"),
]


@pytest.mark.parametrize("raw, words", OPTION_CASES)
def test_strategy_options_are_checked_against_the_model_and_the_server_caps(raw, words):
    status, message = refusal(raw)
    assert status == 422 and words in message, message


def test_options_within_the_caps_pass():
    request = parse_request(body(strategy="codemonkeys", strategy_options={"parallel": 16, "turns": 8}), ServeLimits())
    assert request.strategy_options == {"parallel": 16, "turns": 8}


def test_every_declared_cap_is_a_serve_limit_and_every_default_fits_it():
    limits = ServeLimits()
    for name in AGENTS:
        model = options_model(name)
        assert model is not None, f"strategy {name} declares no Options"
        defaults = model()
        for field in model.model_fields:
            cap = model.field_extra(field).get("cap")
            if cap:
                value = getattr(defaults, field)
                assert cap in ServeLimits.model_fields, (name, field, cap)
                assert value is None or value <= getattr(limits, cap), (name, field)


def test_the_sdk_checks_the_same_option_models_without_the_server_caps(tiny_random_model):
    client = Client(config=str(DEMO), model__path=tiny_random_model)  # no Ray: refused before any work
    with pytest.raises(ValueError, match=r"strategy_options\.parallel: Input should be greater than or equal to 1"):
        client.best_of_n(TASK, n=2, strategy="codemonkeys", strategy_options={"parallel": 0})
    with pytest.raises(ValueError, match=r"strategy_options\.bogus: Extra inputs are not permitted"):
        client.best_of_n(TASK, n=2, strategy_options={"bogus": True})
    assert parse_options("codemonkeys", {"parallel": 100}).parallel == 100  # over max_parallel: only HTTP caps it
    with pytest.raises(ValueError, match=r"less than or equal to 1024"):
        parse_options("codemonkeys", {"parallel": 100_000})


# --- tasks: no server paths, plain ids ---------------------------------------------------------

TASK_CASES = [
    (with_task(metadata={"repo_root": "."}), "task.metadata.repo_root: a folder on the server is not accepted"),
    (with_task(metadata={"file_path": "/etc/passwd"}), "task.metadata.file_path: '/etc/passwd' names a path on the server"),
    (with_task(metadata={"file_path": "pkg/../../../etc/x.py"}), "task.metadata.file_path: 'pkg/../../../etc/x.py'"),
    (with_task(metadata={"chat": [{"role": "user", "content": "..\\secret"}]}), "task.metadata.chat[0].content"),
    (with_task(metadata={"repo_files": {"../outside.py": "x = 1\n"}}), "task.metadata.repo_files key: '../outside.py'"),
    (with_task(id="a\u0000b/../../x"), "task.id: Value error, task id 'a\\x00b/../../x' may hold only letters"),
    (with_task(id="a/b"), "may hold only letters, digits and '._-:'"),
    (with_task(id=".."), "(and not be only dots)"),
    (with_task(id="x" * 129), "task.id: String should have at most 128 characters"),
]


@pytest.mark.parametrize("raw, words", TASK_CASES)
def test_server_paths_and_bad_task_ids_are_refused(raw, words):
    status, message = refusal(raw)
    assert status == 422 and words in message, message


def test_files_sent_inline_are_fine_and_repo_files_count_against_the_file_limits():
    inline = {"repo_files": {"pkg/a.py": "from .. import b\nopen('../data')\n"}, "file_path": "pkg/a.py"}
    assert parse_request(with_task(metadata=inline), ServeLimits()).task.metadata == inline
    many = {"repo_files": {f"m{i}.py": "" for i in range(65)}}
    assert refusal(with_task(metadata=many))[0] == 413


@pytest.mark.parametrize("task_id", ["HumanEval-0", "code-test-9dc502c8a9eb602a", "boltons:boltons.ioutils.py:12:301",
                                     "rg-gsm_symbolic-s0-0", "a.b_c-d:e"])
def test_plain_ids_pass(task_id):
    assert Task(id=task_id, prompt="p").id == task_id


def test_bad_ids_are_refused_by_the_sdk_and_task_files(tmp_path):
    from pipeline.engine.tasks import read_task_file

    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({**TASK, "id": "../../etc/x"}) + "\n")
    with pytest.raises(ConfigError, match=r"tasks.jsonl:1: invalid task: id: .*may hold only letters"):
        read_task_file(path)
    with pytest.raises(ValueError, match="invalid task: id"):
        Client(config=str(DEMO)).best_of_n({**TASK, "id": "a\u0000b"}, n=1)


@pytest.mark.parametrize("source", ["synthetic_code", "arith_word", "humaneval", "digits", "mgd"])
def test_the_shipped_task_sources_make_valid_ids(source):
    from pipeline.core.config import TasksConfig
    from pipeline.engine.tasks import load_tasks

    tasks = load_tasks(TasksConfig(source=source, limit=20))  # each Task validated as it is made
    assert tasks and len({t.id for t in tasks}) == len(tasks)


# --- what the SDK refuses before any work, and how serve answers it ---------------------------

def test_the_sdk_refuses_a_prompt_over_the_context_and_a_strategy_that_cannot_take_the_task(tiny_random_model):
    client = Client(config=str(DEMO), model__path=tiny_random_model)  # its context: 256 tokens
    with pytest.raises(ValueError, match=r"the prompt of \d+ tokens \+ max_new_tokens 8 exceeds the model's context of 256"):
        client.best_of_n({**TASK, "prompt": LONG_PROMPT}, n=1, max_new_tokens=8)
    with pytest.raises(ValueError, match=r"\+ max_new_tokens 250 exceeds"):  # a prompt that fits, plus too many new tokens
        client.best_of_n(TASK, n=1, max_new_tokens=250)
    with pytest.raises(ValueError, match="strategy 'noise_search' takes tasks of kind image, not 'code'"):
        client.best_of_n(TASK, n=1, strategy="noise_search")
    with pytest.raises(ValueError, match="strategy 'quiet_star' needs model.backend quiet_star; this run's is 'hf'"):
        client.best_of_n(TASK, n=1, strategy="quiet_star")
    with pytest.raises(ValueError, match="monitor_guided needs the repository"):
        client.best_of_n(TASK, n=1, strategy="monitor_guided")


def test_errors_map_to_statuses():
    assert sdk_error_status(ValueError("bad argument")) == 422
    assert sdk_error_status(RunFailed("t", "TypeError: boom", "/runs/x")) == 500
    assert sdk_error_status(RuntimeError("anything else")) == 500
    failed = RunFailed("t", "TypeError: boom", "/runs/x")
    assert failed.error == "TypeError: boom" and "TypeError: boom" in str(failed)


# --- monitor_guided takes its repository from task.files ---------------------------------------

def test_monitor_guided_reads_the_repository_from_task_files():
    import pickle

    from agents.monitor_guided import MonitorGuided, leading_identifier
    from pipeline.core.types import SamplingParams
    from pipeline.generators.hf import HFGenerator
    from tests.agents.test_monitor_guided import REPO_FILES, TINY_PY, USE

    task = Task(id="stack", kind="text", prompt=USE, answer="push_item", files=REPO_FILES,
                metadata={"file_path": "main.py", "stop": ["\n"]})
    processor = pickle.loads(pickle.dumps(MonitorGuided(TINY_PY).processor(task)))  # as it travels to an actor
    assert processor.repo_files == REPO_FILES and processor.repo_root is None
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=12, stop=["\n"], seed=0)
    with HFGenerator(TINY_PY, device="cpu") as generator:
        guided = generator.generate([task.prompt], greedy, [processor])[0][0].text
    assert leading_identifier(guided) in {"zz_items", "push_item"} and processor.stats["jedi_calls"] >= 1


# --- run directories: pruned by age and count, only the SDK's own ---------------------------------

def test_pruning_removes_only_the_sdks_own_run_dirs_past_age_or_count(tmp_path):
    config = build_config({"name": "sdk", "runner": {"output_dir": str(tmp_path)}})
    now = time.time()
    made = []
    for age_h in (0.0, 1.0, 2.0, 30.0):  # newest first; the last is past a day
        run_dir = new_marked_run_dir(config, "t")
        (run_dir / "samples.jsonl").write_text("{}\n")
        stamp = now - age_h * 3600
        for path in (run_dir / RUN_MARKER, run_dir / "samples.jsonl", run_dir):
            os.utime(path, (stamp, stamp))
        made.append(run_dir)
    foreign = tmp_path / "run-20250101-000000-1"  # a `ttc run` directory: never the SDK's to remove
    foreign.mkdir()
    (foreign / "provenance.json").write_text("{}")
    os.utime(foreign, (now - 90 * 3600,) * 2)
    (tmp_path / "notes.txt").write_text("mine")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / RUN_MARKER).write_text("{}")
    os.utime(outside / RUN_MARKER, (now - 90 * 3600,) * 2)
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)

    removed = prune_runs(tmp_path, RunRetention(max_age_hours=24, max_runs=1000), now=now)
    assert removed == [made[3]]  # past a day
    removed = prune_runs(tmp_path, RunRetention(max_age_hours=None, max_runs=2), now=now)
    assert removed == [made[2]]  # the third newest; the second newest changed an hour ago, the newest now
    assert prune_runs(tmp_path, RunRetention(max_age_hours=None, max_runs=1), now=now) == [made[1]]
    assert [p for p in made if p.exists()] == [made[0]]  # a run changed in the last IDLE_S is never pruned
    assert foreign.is_dir() and (tmp_path / "notes.txt").is_file() and (outside / RUN_MARKER).is_file()


def test_the_client_marks_its_run_dirs_and_prunes_before_a_new_one(tmp_path):
    client = Client(config=str(DEMO), output_dir=str(tmp_path), retention={"max_runs": 1})
    old = client._new_run_dir(client.base, "t")
    assert json.loads((old / RUN_MARKER).read_text())["made_by"] == "ttc sdk"
    stamp = time.time() - 3600
    for path in (old / RUN_MARKER, old):
        os.utime(path, (stamp, stamp))
    new = client._new_run_dir(client.base, "t")
    assert new.is_dir() and old.is_dir()  # pruned before the new one is made: one kept
    third = client._new_run_dir(client.base, "t")  # may reuse the old one's name, made in the same second
    assert {p for p in tmp_path.iterdir()} == {new, third}
    assert all(time.time() - (p / RUN_MARKER).stat().st_mtime < 600 for p in (new, third))  # the old one went
    with pytest.raises(ValueError, match="max_runs"):
        Client(config=str(DEMO), retention={"max_runs": 0})


# --- the real server over loopback ------------------------------------------------------------------

def local_ray():
    """The session's local Ray as tests/conftest.py's ray_local starts it (a module fixture cannot
    ask for that function-scoped one), its metrics on a free port: another test session on this
    machine may hold the usual one."""
    import ray

    for attempt in (1, 2):  # a loaded 2-core machine can miss Ray's start-up wait once
        if ray.is_initialized():
            return
        try:
            ray.init(address="local", num_cpus=8, resources={"sandbox": 1}, include_dashboard=False,
                     _metrics_export_port=free_port(), log_to_driver=False)
        except Exception:  # noqa: BLE001 - retried once, then raised
            ray.shutdown()
            if attempt == 2:
                raise


@pytest.fixture(scope="module")
def server(sandbox_image, tiny_random_model, tmp_path_factory):
    from ray import serve

    from pipeline.interfaces.serve import deploy

    local_ray()
    out = tmp_path_factory.mktemp("serve-bounds")
    settings = make_settings(str(DEMO), small_run(tiny_random_model, out), port=free_port(), limits=["max_n=8"])
    try:
        yield deploy(settings)
    finally:
        serve.shutdown()


def post(server: str, data: bytes) -> requests.Response:
    return requests.post(f"{server}/v1/best_of_n", data=data, headers={"Content-Type": "application/json"},
                         timeout=300)


HTTP_CASES = [
    (body(strategy_options={"bogus": 1}), "strategy_options.bogus: Extra inputs are not permitted"),
    (body(strategy="codemonkeys", strategy_options={"parallel": 100000, "turns": 100000}), "max_parallel=16"),
    (body(strategy="noise_search", strategy_options={"nfe_budget": 1e9}), "max_nfe_budget=2000"),
    (with_task(metadata={"repo_root": "/work"}), "task.metadata.repo_root"),
    (with_task(id="a\u0000b/../../x"), "task.id"),
    (with_task(prompt=LONG_PROMPT), "exceeds the model's context of 256 tokens"),
    (body(strategy="noise_search"), "strategy 'noise_search' takes tasks of kind image, not 'code'"),
    (body(strategy="codemonkeys"), "strategy 'codemonkeys' takes tasks of kind repo"),
]


@pytest.mark.docker
@pytest.mark.parametrize("raw, words", HTTP_CASES)
def test_http_refuses_what_cannot_run_before_any_work(server, raw, words):
    answer = post(server, raw)
    assert answer.status_code == 422 and words in answer.json()["error"], answer.text


@pytest.mark.docker
def test_http_answers_a_run_whose_every_chunk_failed_with_500(server):
    answer = post(server, with_task(metadata={"stop": 5}))  # the agent fails on it in every chunk
    assert answer.status_code == 500, answer.text
    error = answer.json()["error"]
    assert error.startswith("RunFailed: best_of_n failed for task") and "TypeError" in error, error


@pytest.mark.docker
def test_http_monitor_guided_runs_on_the_files_of_the_task(server):
    files = {"pkg/__init__.py": "", "pkg/stack.py": "class Stack:\n    def push_item(self, item):\n        pass\n"}
    raw = with_task(files=files, metadata={"file_path": "main.py"})
    answer = post(server, json.dumps({**json.loads(raw), "strategy": "monitor_guided"}).encode())
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["candidates"]) == 2


# --- `ttc serve` as a process: SIGTERM leaves nothing of its Ray behind ----------------------------

def processes_of(session_id: int, marker: str) -> list[tuple[int, str]]:
    """Live processes in the session `session_id` or whose command line names `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if fields[0] != "Z" and (int(fields[3]) == session_id or marker in command):
            found.append((int(pid), command[:120]))
    return found


def serve_command(name: str, model: str, runs: Path, port: int) -> tuple[list[str], str]:
    """The server's command line and the URL that answers once it is up."""
    if name == "serve":
        return ([sys.executable, "-m", "pipeline.interfaces.cli", "serve", str(DEMO),
                 *small_run(model, runs), "--port", str(port)], f"http://127.0.0.1:{port}/healthz")
    return ([sys.executable, "-m", "pipeline.interfaces.cli", "serve-model", model, "--port", str(port)],
            f"http://127.0.0.1:{port}/v1/models")


@pytest.mark.docker
@pytest.mark.parametrize("name", ["serve", "serve-model"])
def test_sigterm_stops_the_server_and_every_ray_process_it_started(sandbox_image, tiny_random_model, name):
    ray_tmp = tempfile.mkdtemp(prefix="ttc-sig-", dir="/tmp")  # short: Ray's socket paths live under it
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_METRICS_EXPORT_PORT")}
    env["RAY_TMPDIR"] = ray_tmp
    command, url = serve_command(name, tiny_random_model, Path(ray_tmp) / "runs", port)
    with open(Path(ray_tmp) / "serve.log", "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_answering(url, proc, Path(ray_tmp) / "serve.log", 240)
        started = processes_of(proc.pid, ray_tmp)
        assert len(started) > 3, started  # the server, Ray's GCS, raylet, agents, Serve's actors
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 15
        while (left := processes_of(proc.pid, ray_tmp)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not left, left
        assert f"ttc {name}: SIGTERM, shutting down" in (Path(ray_tmp) / "serve.log").read_text()
    finally:
        for pid, _ in processes_of(proc.pid, ray_tmp):  # only what this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(ray_tmp, ignore_errors=True)
