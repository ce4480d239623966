"""Bad configs and bad task files fail with a message naming the field, the value and what is allowed."""
import json
import textwrap

import pytest

from pipeline.core.config import ConfigError, load_config
from pipeline.engine.tasks import load_tasks, read_task_file
from pipeline.core.config import TasksConfig
from pipeline.core.registry import UnknownNameError


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_are_valid():
    cfg = load_config(None)
    assert cfg.sampling.n == 1 and cfg.sandbox.image == "ttc-sandbox:base"


def test_overrides_apply_with_types(tmp_path):
    cfg = load_config(write(tmp_path, "name: x\n"), ["sampling.n=64", "sampling.temperature=0.5", "selectors=[best_score]"])
    assert cfg.sampling.n == 64 and cfg.sampling.temperature == 0.5 and cfg.selectors == ["best_score"]


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("sampling:\n  n: 0\n", ["sampling.n", "greater than or equal to 1", "got 0"]),
        ("sampling:\n  temperature: hot\n", ["sampling.temperature", "valid number", "'hot'"]),
        ("sampling:\n  top_p: 1.5\n", ["sampling.top_p", "less than or equal to 1", "1.5"]),
        ("sampeling:\n  n: 4\n", ["sampeling", "Extra inputs are not permitted"]),
        ("sandbox:\n  limits:\n    memory_mb: 1\n", ["sandbox.limits.memory_mb", "greater than or equal to 32"]),
        ("model:\n  device: tpu\n", ["model.device", "'auto', 'cpu' or 'cuda'", "'tpu'"]),
        ("tasks:\n  split: validation\n", ["tasks.split", "'train' or 'test'", "'validation'"]),
        ("tasks:\n  source: jsonl\n", ["tasks.path is required"]),
        ("name: 'has space'\n", ["name", "should match pattern", "'has space'"]),
        ("selectors: []\n", ["selectors", "at least 1 item"]),
        ("runner:\n  max_in_flight: -3\n", ["runner.max_in_flight", "greater than or equal to 1", "-3"]),
        ("verifier: digit_classifier\noracle: digit_classifier\noracle_options: {checkpoint: heldout}\n",
         ["oracle 'digit_classifier'", "must be a different verifier"]),
    ],
)
def test_bad_config_names_field_value_and_rule(tmp_path, yaml_text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, yaml_text))
    for fragment in expected:
        assert fragment in str(info.value)


def test_not_yaml_and_not_mapping_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="must hold a mapping, got list"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_bad_override_syntax(tmp_path):
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        load_config(None, ["sampling.n"])
    with pytest.raises(ConfigError, match="'sampling.n=abc'|sampling.n"):
        load_config(None, ["sampling.n=abc"])


def test_unknown_task_source_lists_valid_ones():
    with pytest.raises(UnknownNameError, match="unknown task source 'nope'; valid: .*jsonl"):
        load_tasks(TasksConfig(source="nope"))


def _task_file(tmp_path, lines):
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"id": "t1", "prompt": "def f():\n", "tests": "assert True"})


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        ("{not json", ["tasks.jsonl:2", "not valid JSON"]),
        ("[1, 2]", ["tasks.jsonl:2", "must be a JSON object, got list"]),
        (json.dumps({"id": "t2"}), ["tasks.jsonl:2", "prompt", "Field required"]),
        (json.dumps({"id": "t2", "prompt": "p", "kind": "essay"}), ["tasks.jsonl:2", "kind", "'code', 'math', 'text', 'image' or 'repo'", "'essay'"]),
        (json.dumps({"id": "t2", "prompt": "p", "files": {"../etc/passwd": "x"}}), ["tasks.jsonl:2", "files", "stay inside the workspace"]),
        (GOOD, ["tasks.jsonl:2", "duplicate task id 't1'"]),
        (json.dumps({"id": "", "prompt": "p"}), ["tasks.jsonl:2", "id", "at least 1 character"]),
    ],
)
def test_bad_task_file_names_line_field_and_rule(tmp_path, bad_line, expected):
    with pytest.raises(ConfigError) as info:
        read_task_file(_task_file(tmp_path, [GOOD, bad_line]))
    for fragment in expected:
        assert fragment in str(info.value)


def test_empty_task_file(tmp_path):
    with pytest.raises(ConfigError, match="holds no tasks"):
        read_task_file(_task_file(tmp_path, [""]))


def test_good_task_file_loads(tmp_path):
    tasks = load_tasks(TasksConfig(source="jsonl", path=str(_task_file(tmp_path, [GOOD]))))
    assert [t.id for t in tasks] == ["t1"]


def test_shipped_configs_validate():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")):
        load_config(path)


def test_humaneval_config_loads_all_problems():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs/humaneval.yaml")
    tasks = load_tasks(cfg.tasks)
    assert len(tasks) == 164 and all(t.metadata["test_format"] == "humaneval" for t in tasks)
