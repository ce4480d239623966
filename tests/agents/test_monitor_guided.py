"""Monitor-guided decoding: trie masking, Jedi members, a real decode with and without the
monitor, and the strategy through Ray (SDK)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.mgd.jedi_monitor import JediMonitor, find_trigger
from agents.mgd.trie import TokenTrie, admitted_by_brute_force
from agents.monitor_guided import MonitorGuided, leading_identifier
from pipeline.core.types import SamplingParams, Task

ROOT = Path(__file__).resolve().parents[2]
TINY_PY = str(ROOT / "models" / "tiny-py")
STACK = '''class Stack:
    def __init__(self):
        self.zz_items = []

    def push_item(self, item):
        self.zz_items.append(item)
'''
# Greedy, the shipped tiny-py completes `stack.` here with `s import ...`: no member of Stack.
USE = "from pkg.stack import Stack\n\nstack = Stack()\nstack."
REPO_FILES = {"pkg/__init__.py": "", "pkg/stack.py": STACK}

# ---------------------------------------------------------------- trie

token_text = st.text(alphabet="ab_1.( ", min_size=0, max_size=4)
identifier = st.builds(lambda head, tail: head + tail, st.sampled_from("ab_"), st.text(alphabet="ab_1", max_size=5))


@settings(max_examples=300, deadline=None)
@given(vocab=st.lists(token_text, min_size=1, max_size=40), names=st.lists(identifier, min_size=1, max_size=6),
       cut=st.integers(0, 6), pick=st.integers(0, 5))
def test_trie_admits_exactly_the_tokens_that_continue_a_valid_identifier(vocab, names, cut, pick):
    partial = names[pick % len(names)][:cut]
    texts = list(enumerate(vocab))
    assert TokenTrie(texts).allowed(names, partial) == admitted_by_brute_force(texts, names, partial)


def test_trie_spans_multi_token_identifiers_and_lets_go_after_them():
    texts = list(enumerate(["zz", "_items", "zz_items", "(", ")", " ", "_", "x", "zz_items.", ".x"]))
    trie = TokenTrie(texts)
    assert trie.allowed(["zz_items"], "") == {0, 2, 8}  # "zz", "zz_items", "zz_items."
    assert trie.allowed(["zz_items"], "zz") == {1, 6}  # "_items", "_"
    assert trie.allowed(["zz_items"], "zz_items") == {3, 4, 5, 9}  # complete: leaving tokens only


# ---------------------------------------------------------------- Jedi monitor


def write_repo(root: Path) -> Path:
    for relative, text in REPO_FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_jedi_lists_the_members_a_small_repository_defines(tmp_path):
    monitor = JediMonitor(str(write_repo(tmp_path)), str(tmp_path / "main.py"))
    trigger, names = monitor.allowed(USE)
    assert trigger.kind == "dereference" and {"zz_items", "push_item"} <= set(names)
    assert "append" not in names and "items" not in names
    _, narrowed = monitor.allowed(USE + "pu")
    assert "push_item" in narrowed
    assert monitor.allowed(USE + "push_item(") is None  # the identifier is complete: no constraint
    _, imported = monitor.allowed("from pkg.stack import ")
    assert "Stack" in imported


@pytest.mark.parametrize("code, kind", [("a.b", "dereference"), ("f(x)[0].", "dereference"), ("x = 1.", None),
                                        ("# see a.", None), ("s = 'a.", None), ("from m import (a, ", "from_import")])
def test_triggers(code, kind):
    trigger = find_trigger(code)
    assert (trigger.kind if trigger else None) == kind


# ---------------------------------------------------------------- a real decode


def public(identifiers: set[str]) -> set[str]:
    """Jedi also lists the dunder members every object has; the rest must be Stack's own."""
    return {name for name in identifiers if not name.startswith("__")}


def stack_task() -> Task:
    return Task(id="stack", kind="text", prompt=USE, answer="push_item",
                metadata={"repo_files": REPO_FILES, "file_path": "main.py", "stop": ["\n"]})


@pytest.fixture(scope="module")
def tiny_py():
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(TINY_PY, device="cpu") as generator:
        yield generator


def test_monitor_turns_an_invalid_member_into_a_valid_one(tiny_py):
    task, members = stack_task(), {"zz_items", "push_item"}
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=12, stop=["\n"], seed=0)
    free = tiny_py.generate([task.prompt], greedy)[0][0].text
    processor = pickle.loads(pickle.dumps(MonitorGuided(TINY_PY).processor(task)))  # as it travels to an actor
    guided = tiny_py.generate([task.prompt], greedy, [processor])[0][0].text
    assert leading_identifier(free) not in members
    assert leading_identifier(guided) in members
    assert processor.stats["jedi_calls"] >= 1


def test_every_sample_of_n_is_constrained(tiny_py):
    agent, task = MonitorGuided(TINY_PY), stack_task()
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=10, stop=["\n"], seed=3)
    trajectories = agent.run(task, tiny_py.generate, params)
    identifiers = {agent.candidate(task, t).content for t in trajectories}
    assert len(trajectories) == 6 and public(identifiers) <= {"zz_items", "push_item"}


# ---------------------------------------------------------------- through Ray


def test_config_runs_two_tasks_with_ttc_run(ray_local, tmp_path):
    from pipeline.core.config import load_config
    from pipeline.engine.runner import run

    tasks = tmp_path / "tasks.jsonl"
    other = Task(id="stack-import", kind="text", prompt="from pkg.stack import ", answer="Stack",
                 metadata={"repo_files": REPO_FILES, "file_path": "main.py", "stop": ["\n"]})
    tasks.write_text("".join(json.dumps(t.model_dump(mode="json")) + "\n" for t in (stack_task(), other)))
    config = load_config(ROOT / "configs" / "monitor_guided.yaml", [
        "tasks.source=jsonl", f"tasks.path={tasks}", "tasks.limit=2", "sampling.n=2", "sampling.max_new_tokens=20",
        f"runner.output_dir={tmp_path}", "model.device=cpu"])
    result = run(config)  # what `ttc run configs/monitor_guided.yaml ...` does (the SDK's best_of_n shares it)
    assert result.tasks == 2 and result.samples == 4
    samples = [json.loads(line) for line in (Path(result.run_dir) / "samples.jsonl").read_text().splitlines()]
    allowed = {"stack": {"zz_items", "push_item"}, "stack-import": {"Stack"}}
    assert len(samples) == 4 and all(public({s["content"]}) <= allowed[s["task_id"]] for s in samples)


def test_sdk_best_of_n_with_the_monitor_picks_a_real_member(ray_local, tmp_path):
    from pipeline.interfaces.sdk import Client

    client = Client(config=ROOT / "configs" / "monitor_guided.yaml", output_dir=str(tmp_path), model__device="cpu")
    result = client.best_of_n(stack_task(), n=2, strategy="monitor_guided", verifier="identifier_match",
                              selector="majority_vote", max_new_tokens=20, seed=1)
    assert result.best is not None and result.best.content in {"zz_items", "push_item"}
    assert len(result.candidates) <= 2 and result.run_dir
    client.close()


# ---------------------------------------------------------------- training


def test_training_script_runs_a_few_steps_and_writes_a_loadable_model(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.train_tiny_py import main

    main(["--out", str(tmp_path / "m"), "--steps", "2", "--source-dir", str(ROOT / "pipeline"), "--limit-files", "8",
          "--seed", "1"])
    log = json.loads((tmp_path / "m" / "training_log.json").read_text())
    assert log["steps"] == 2 and log["final_loss"] == log["final_loss"]  # finite, not NaN
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert model.config.vocab_size == len(tokenizer) and tokenizer.decode(tokenizer.encode("self.x")) == "self.x"


# ---------------------------------------------------------------- benchmark pieces


def test_task_builder_cuts_the_file_right_before_a_repository_member():
    import ast

    from benchmarks.mgd.tasks import defined_names, dereference_offsets

    text = "s = 'é'\nstack = Stack()\nstack.push_item(1)\nstack.zz_items.append(2)\n"
    tree = ast.parse(STACK + text)
    members = defined_names([ast.parse(STACK)])
    spots = dereference_offsets(STACK + text, tree, members)
    assert [(STACK + text)[o - 6:o] + "|" + m for o, m in spots][-2:] == ["stack.|push_item", "stack.|zz_items"]
    assert "append" not in {m for _, m in spots}  # a builtin's member is not the repository's


@pytest.mark.parametrize("line, ok", [("x = self.push_item(1)", True), ("return self.a", True),
                                      ("if self.zz_items:", True), ("foo(self.a,", True), ("else:", True),
                                      ("x = self.a b", False), ("x = self.", False)])
def test_completed_line_compiles(line, ok):
    from benchmarks.mgd.metrics import line_compiles

    assert line_compiles(line) is ok
