"""Chat prompts: messages render through the model's template; a final assistant turn is a prefill."""
from __future__ import annotations

import pytest

from agents.base import task_prompt
from pipeline.generators.chat import check_messages, render_chat
from pipeline.core.types import SamplingParams, Task

TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}"
            "{% if not (loop.last and m['role'] == 'assistant') %}<|end|>{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture
def templated(tiny_random_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_random_model)
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def test_template_renders_generation_prompt_and_prefill(templated):
    question = [{"role": "user", "content": "hi"}]
    assert render_chat(templated, question) == "<|user|>hi<|end|><|assistant|>"
    prefilled = question + [{"role": "assistant", "content": "def f("}]
    assert render_chat(templated, prefilled) == "<|user|>hi<|end|><|assistant|>def f("


def test_without_template_plain_role_lines(tiny_random_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_random_model)
    assert render_chat(tokenizer, [{"role": "user", "content": "hi"}]) == "user: hi\nassistant: "
    assert render_chat(tokenizer, [{"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "x"}]) == "user: hi\nassistant: x"


@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list"), ("text", "non-empty list"), ([{"role": "user"}], "needs 'role' and 'content'"),
    ([{"role": "robot", "content": "x"}], "role 'robot'")])
def test_malformed_messages_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        check_messages(bad)


def test_hf_generator_samples_a_chat_prompt_as_its_rendered_text(tiny_random_model):
    from pipeline.generators.hf import HFGenerator

    messages = [{"role": "user", "content": "add two numbers"}, {"role": "assistant", "content": "def add("}]
    params = SamplingParams(n=3, max_new_tokens=6, seed=7)
    with HFGenerator(tiny_random_model, device="cpu") as generator:
        from_messages = generator.generate([messages], params)[0]
        from_text = generator.generate([render_chat(generator.tokenizer, messages)], params)[0]
    assert [c.text for c in from_messages] == [c.text for c in from_text]


def test_agents_send_chat_messages_only_when_asked():
    from benchmarks.tasks.humaneval import load_humaneval

    task = load_humaneval(limit=1)[0]
    assert task_prompt(task) == task.prompt
    user, prefill = task_prompt(task, chat=True)
    assert task.prompt in user["content"] and prefill == {"role": "assistant", "content": "```python\n"}
    plain = Task(id="t", kind="math", prompt="1+1?")
    assert task_prompt(plain, chat=True) == [{"role": "user", "content": "1+1?"}]


def test_a_whole_function_from_a_chat_code_block_replaces_the_prompt_stub():
    from agents.base import candidate_content, task_params
    from benchmarks.tasks.humaneval import load_humaneval
    from pipeline.judging.verifiers import make_verifier, subprocess_executor
    from pipeline.core.types import Candidate

    task = load_humaneval(limit=1)[0]
    whole = task.prompt.split("def has_close_elements")[1]
    answer = "def has_close_elements" + whole + task.metadata["canonical_solution"] + "\n```\nThis checks pairs."
    broken = "def has_close_elements(numbers, threshold):\n    return False\n```"
    verify = make_verifier("unit_tests", execute=subprocess_executor).verify
    programs = [candidate_content(task, text, chat=True) for text in (answer, broken)]
    assert "from typing import List" in programs[0] and "This checks pairs" not in programs[0]
    verdicts = verify(task, [Candidate(task_id=task.id, sample_index=i, content=p) for i, p in enumerate(programs)])
    assert [v.passed for v in verdicts] == [True, False]
    assert task_params(task, SamplingParams(), chat=True).stop == ["\n```"]
