"""The README's interface sections stay true: its Python runs (on the tiny model), its commands parse."""
import json
import re
import shlex

import pytest

from pipeline.interfaces.cli import build_parser
from pipeline.interfaces.serve import BestOfNHttpRequest
from tests.interfaces.conftest import ROOT

DOC = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def commands(program: str) -> list[list[str]]:
    """Argument lists of the `program` lines of the bash blocks, past any VAR=value prefix."""
    found = []
    for line in "".join(blocks("bash")).splitlines():
        words = shlex.split(re.sub(r"^([A-Z_]+=(\$\([^)]*\)|\S+)\s+)+", "", line), comments=True)
        if words and words[0].rsplit("/", 1)[-1] == program:  # `ttc` or `.venv/bin/ttc`
            found.append(words[1:])
    return found


def test_every_ttc_command_parses():
    ttc = commands("ttc") + [words[words.index("--") + 2:] for words in commands("ray") if "--" in words]
    ray_job = [w for w in commands("ray") if "--" in w]
    assert len(ttc) >= 8 and ray_job
    for words in ttc:
        args = build_parser().parse_args(words)
        assert args.func.__name__.startswith("cmd_"), words
    for words in ray_job:
        assert words[words.index("--") + 1] == "ttc"


def test_the_curl_body_is_a_valid_request():
    bodies = [words[words.index("-d") + 1] for words in commands("curl") if "-d" in words]
    assert bodies
    for body in bodies:
        request = BestOfNHttpRequest.model_validate(json.loads(body))
        assert request.task.tests and request.n == 8


@pytest.mark.docker
def test_the_python_examples_run(ray_local, sandbox_image, tiny_random_model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = "\n".join(blocks("python")).replace(
        'Client(config="configs/demo.yaml")',
        f'Client(config="configs/demo.yaml", model__path={tiny_random_model!r}, runner__output_dir={str(tmp_path)!r},'
        ' sampling__max_new_tokens=16, runner__chunk_size=4)')
    assert "model__path" in code
    namespace: dict = {}
    try:
        exec(compile(code, "README.md", "exec"), namespace)
    finally:
        if "client" in namespace:
            namespace["client"].close()
    out = capsys.readouterr().out
    assert str(tmp_path) in out  # result.run_dir was printed
    assert len(list(tmp_path.iterdir())) == 4  # best_of_n, stream and the two abest_of_n calls
