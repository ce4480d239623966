"""llm_judge from a config: the judge's model named in verifier_options, built in a verifier actor,
run through `ttc run` and the SDK on the tiny random model; a judgement without yes/no is an error
verdict, never a pass."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.core.types import Candidate, Completion, SamplingParams, Task
from pipeline.judging.verifiers import JUDGE_TEMPLATE, LLMJudgeVerifier, llm_judge, make_verifier, parse_judgement

MATH = Task(id="add-2-2", kind="math", prompt="2 + 2 =", answer="4")
SHORT_TASKS = [{"id": f"add-{a}-{b}", "kind": "math", "prompt": f"{a} + {b} =", "answer": str(a + b)}
               for a, b in ((2, 2), (3, 4))]  # short: template + task + answer fit the tiny model's 256 tokens


def candidates(task: Task, contents: list[str]) -> list[Candidate]:
    return [Candidate(task_id=task.id, sample_index=i, content=c) for i, c in enumerate(contents)]


class ScriptedJudge:
    """A Generator whose i-th prompt gets the i-th list of judgements (the parsing, pinned)."""

    def __init__(self, answers: list[list[str]]):
        self.answers, self.prompts = answers, []

    def generate(self, prompts, params, logits_processors=None):
        first = len(self.prompts)
        self.prompts += prompts
        return [[Completion(text=t) for t in self.answers[first + i][:params.n]] for i in range(len(prompts))]


@pytest.mark.parametrize("text, vote", [
    (" Yes.", 1.0), ("NO", 0.0), (" no, yes", 0.0), ("Answer: yes", 1.0),
    ("", None), ("yesterday", None), ("nonsense", None), ("I cannot tell", None), ("&ypr pr\"XmH", None),
])
def test_parse_judgement_takes_the_first_yes_or_no_word(text, vote):
    assert parse_judgement(text) == vote


def test_unparsable_judgements_are_error_verdicts_never_passes():
    judge = ScriptedJudge([["yes", "???"], ["???", "maybe"], ["no", "yes"], ["", ""]])
    lenient = LLMJudgeVerifier(judge, samples=2, threshold=0.0)  # threshold 0: only an error can refuse
    verdicts = lenient.verify(MATH, candidates(MATH, ["4", "5", "six", "7"]))
    assert [v.passed for v in verdicts] == [True, False, True, False]
    assert [v.error is None for v in verdicts] == [True, False, True, False]
    assert "no yes/no in 2 answer(s)" in verdicts[1].error and verdicts[1].score == 0.0
    assert verdicts[0].score == 1.0 and verdicts[2].score == 0.5  # unparsable samples do not vote
    assert verdicts[0].details["judgements"] == ["yes", "???"]
    assert not any(v.accepted for v in verdicts if v.error)


def test_chat_judge_sends_the_filled_template_as_one_user_message():
    judge = ScriptedJudge([["yes"]])
    LLMJudgeVerifier(judge, chat=True).verify(MATH, candidates(MATH, ["4"]))
    assert judge.prompts == [[{"role": "user", "content": JUDGE_TEMPLATE.format(prompt="2 + 2 =", candidate="4",
                                                                                 reference="4")}]]


@pytest.mark.parametrize("options, words", [
    ({"backend": "openai_compat", "model": "judge"}, "needs verifier_options model (the served model's name) and base_url"),
    ({"backend": "hf"}, "needs verifier_options model_path"),
    ({"backend": "hf", "model_path": "models/tiny-math", "base_url": "http://127.0.0.1:8000/v1"}, "no model or base_url"),
])
def test_llm_judge_options_say_what_the_judge_model_lacks(options, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        llm_judge(**options)


def test_llm_judge_builds_its_own_generator_from_options(tiny_random_model):
    judge = make_verifier("llm_judge", backend="hf", model_path=tiny_random_model, samples=2, max_new_tokens=4,
                          generator_options={"device": "cpu"})
    verdicts = judge.verify(MATH, candidates(MATH, ["4", "5"]))
    assert judge.params == SamplingParams(n=2, temperature=1.0, max_new_tokens=4, seed=0)
    for verdict in verdicts:
        assert verdict_is_consistent(verdict.model_dump(mode="json"), samples=2)


def verdict_is_consistent(verdict: dict, samples: int, threshold: float = 0.5) -> bool:
    """The verdict carries the judge's outputs, and passes only on parsable ones that say yes."""
    judgements = verdict["details"]["judgements"]
    votes = [v for v in map(parse_judgement, judgements) if v is not None]
    assert len(judgements) == samples and all(isinstance(j, str) for j in judgements)
    assert (verdict["error"] is None) == bool(votes), verdict
    assert verdict["passed"] == (bool(votes) and sum(votes) / len(votes) >= threshold), verdict
    return True


# --- from a config: `ttc run` and the SDK (a local Ray, the verifier in its own actor) ----------------


def judge_config(tmp_path: Path, model: str) -> dict:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in SHORT_TASKS))
    return {
        "name": "llm-judge", "tasks": {"source": "jsonl", "path": str(tasks)},
        "model": {"backend": "hf", "path": model, "device": "cpu"},
        "sampling": {"n": 4, "temperature": 1.0, "max_new_tokens": 6},
        "verifier": "llm_judge",
        "verifier_options": {"backend": "hf", "model_path": model, "samples": 2, "generator_options": {"device": "cpu"}},
        "oracle": "exact_answer", "selectors": ["majority_vote", "first_passing"],
        "runner": {"output_dir": str(tmp_path / "runs"), "chunk_size": 2, "max_in_flight": 4},
    }


def test_ttc_run_with_llm_judge_from_a_config(ray_local, tiny_random_model, tmp_path, capsys):
    from pipeline.interfaces.cli import main

    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump(judge_config(tmp_path, tiny_random_model)))
    assert main(["run", str(config)]) == 0
    run_dir = Path(capsys.readouterr().out.split("run directory: ")[1].strip())
    verdicts = [json.loads(line) for line in (run_dir / "verdicts.jsonl").read_text().splitlines()]
    judged = [v for v in verdicts if v["verifier"] == "llm_judge"]
    assert judged and {v["verifier"] for v in verdicts} == {"llm_judge", "exact_answer"}
    assert all(verdict_is_consistent(v, samples=2) for v in judged)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["errors"] == 0 and summary["samples"] == 8
    assert summary["verifier_errors"] == sum(1 for v in judged if v["error"])
    canaries = [json.loads(line) for line in (run_dir / "canaries.jsonl").read_text().splitlines()]
    assert canaries and all(c["verifier"] == "llm_judge" and not (c["passed"] and c["error"]) for c in canaries)


def test_sdk_best_of_n_with_llm_judge(ray_local, tiny_random_model, tmp_path):
    from pipeline import Client

    with Client(config=judge_config(tmp_path, tiny_random_model)) as client:
        first = client.best_of_n(MATH, n=2, verifier="llm_judge", selector="first_passing")
        again = client.best_of_n(MATH, n=2, verifier="llm_judge", selector="first_passing", seed=1)
        assert len(client.session._verifiers) == 1  # one judge actor, reused by the second call
    for result in (first, again):
        assert [c.verdict.verifier for c in result.candidates] == ["llm_judge"] * 2
        assert all(verdict_is_consistent(c.verdict.model_dump(mode="json"), samples=2) for c in result.candidates)
        accepted = {c.candidate.key for c in result.candidates if c.verdict.accepted}
        assert result.selection.candidate_key is None or result.selection.candidate_key in accepted


def test_the_docs_page_shows_the_template_in_use_every_option_and_configs_that_validate():
    import inspect
    import re

    from pipeline.core.config import build_config

    page = (Path(__file__).resolve().parents[2] / "docs/llm_judge.md").read_text()
    [template] = re.findall(r"```text\n(.*?)\n```", page, flags=re.DOTALL)
    assert template == JUDGE_TEMPLATE
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", page, flags=re.MULTILINE))
    assert {name for pair in documented for name in pair if name} == set(inspect.signature(llm_judge).parameters)
    examples = re.findall(r"```yaml\n(.*?)```", page, flags=re.DOTALL)
    assert len(examples) == 2
    for example in examples:
        config = build_config(yaml.safe_load(example))
        assert config.verifier == "llm_judge" and _judge_options_bind(config.verifier_options)


def _judge_options_bind(options: dict) -> bool:
    import inspect

    inspect.signature(llm_judge).bind(**options)  # a TypeError names an option the factory lacks
    return True
