"""docs/extending/*.md stay true: each page's Python runs, top to bottom, through the real SDK
on the demo config (the shipped tiny-coder), and what it registers is gone afterwards."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from agents import AGENTS
from pipeline.judging.selectors import SELECTORS
from pipeline.judging.verifiers import VERIFIERS
from tests.interfaces.conftest import ROOT

PAGES = ROOT / "docs" / "extending"
DEMO_CLIENT = 'Client(config="configs/demo.yaml")'
MODULE_FILE = re.compile(r"# file: (\w+)\.py\n")  # a block that is a module to save, not to run
REGISTRATION = re.compile(r"\b(AGENTS|SELECTORS|VERIFIERS)\[\"(\w+)\"\] = ")
REGISTRIES = {"AGENTS": AGENTS, "SELECTORS": SELECTORS, "VERIFIERS": VERIFIERS}


def python_blocks(page: str) -> list[tuple[int, str]]:
    """(line of the block's first line in the page, the block) for each ```python block."""
    text = (PAGES / page).read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1))
            for m in re.finditer(r"```python\n(.*?)```", text, flags=re.DOTALL)]


def as_one_program(blocks: list[tuple[int, str]]) -> str:
    """The blocks joined, padded with blank lines so a traceback names the page's own lines."""
    code = ""
    for line, block in blocks:
        code += "\n" * (line - 1 - code.count("\n")) + block
    return code


def save_modules(blocks: list[tuple[int, str]], folder: Path) -> list[str]:
    """Write the module blocks into `folder`; the names of the modules written."""
    names = []
    for _line, block in blocks:
        named = MODULE_FILE.match(block)
        if named:
            (folder / f"{named.group(1)}.py").write_text(block)
            names.append(named.group(1))
    return names


def undo_registrations(code: str, monkeypatch) -> list[tuple[str, str]]:
    """Every `REGISTRY["name"] = ...` of the page is removed again when the test ends."""
    found = REGISTRATION.findall(code)
    for registry, name in found:
        assert name not in REGISTRIES[registry], f"the page overwrites the shipped {registry}[{name!r}]"
        monkeypatch.setitem(REGISTRIES[registry], name, None)  # the page sets it; undo deletes it
    return found


def run_page(page: str, tmp_path: Path, monkeypatch) -> dict:
    """The page's module blocks saved on sys.path, its other blocks run in one namespace with
    the demo Client writing its runs under `tmp_path`; the namespace when done."""
    monkeypatch.chdir(ROOT)
    blocks = python_blocks(page)
    modules = tmp_path / "modules"
    modules.mkdir()
    module_names = save_modules(blocks, modules)
    monkeypatch.syspath_prepend(str(modules))
    code = as_one_program([(line, b) for line, b in blocks if not MODULE_FILE.match(b)])
    assert DEMO_CLIENT in code
    runs = str(tmp_path / "runs")
    code = code.replace(DEMO_CLIENT, f'Client(config="configs/demo.yaml", runner__output_dir={runs!r})')
    registered = undo_registrations(code, monkeypatch)
    assert registered, f"{page} registers nothing"
    namespace: dict = {}
    try:
        exec(compile(code, str(PAGES / page), "exec"), namespace)
    finally:
        if "client" in namespace:
            namespace["client"].close()
        for name in module_names:
            sys.modules.pop(name, None)
    for registry, name in registered:
        assert REGISTRIES[registry][name] is not None, f"{page} did not register {name!r}"
    return namespace


def test_the_verifier_page_runs(ray_local, tmp_path, monkeypatch):
    namespace = run_page("verifier.md", tmp_path, monkeypatch)
    assert len(list((tmp_path / "runs").iterdir())) == 1  # the best_of_n run
    assert namespace["result"].selection.selector == "first_passing"


@pytest.mark.docker
def test_the_selector_page_runs(ray_local, sandbox_image, tmp_path, monkeypatch):
    namespace = run_page("selector.md", tmp_path, monkeypatch)
    assert namespace["passing"], "the page's task should have passing samples, or the pick is untested"


@pytest.mark.docker
def test_the_strategy_page_runs(ray_local, sandbox_image, tmp_path, monkeypatch):
    namespace = run_page("strategy.md", tmp_path, monkeypatch)
    assert "greedy_first" not in sys.modules
    assert len(namespace["result"].candidates) == 20


def test_the_pages_registrations_are_gone():
    """Runs after the page tests: the shipped registries are as the source defines them."""
    assert not {"within_tolerance", "shortest_passing", "greedy_first"} & {*VERIFIERS, *SELECTORS, *AGENTS}


def test_a_run_time_registration_stays_in_its_process(ray_local, monkeypatch):
    """What the pages' "Where it runs" says: a Ray worker imports the registries afresh, so a
    component built inside an actor must be registered in the source."""
    monkeypatch.setitem(VERIFIERS, "driver_only", lambda: None)

    def registered_in_worker() -> bool:
        from pipeline.judging.verifiers import VERIFIERS as WORKER_VERIFIERS

        return "driver_only" in WORKER_VERIFIERS

    assert not ray_local.get(ray_local.remote(registered_in_worker).remote())


def test_each_page_says_how_to_register_for_good():
    lines = {"verifier.md": '"within_tolerance": WithinTolerance,',
             "selector.md": '"shortest_passing": ShortestPassing,',
             "strategy.md": '"greedy_first": "agents.greedy_first:GreedyFirst",'}
    for page, line in lines.items():
        assert line in (PAGES / page).read_text(), page
