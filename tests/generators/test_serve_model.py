"""`serve-model` pieces that need no running server."""
from __future__ import annotations

import pytest
from fastapi import HTTPException

from pipeline.generators.hf import ModelNotFoundError
from pipeline.interfaces.serve_model import ChatMessage, CompletionRequest, build_app, chat_prompt, sampling_params


def test_bad_model_path_fails_before_deploying(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        build_app(str(tmp_path / "missing"))


def test_invalid_sampling_field_is_named_as_the_client_sent_it():
    body = CompletionRequest(model="m", prompt="x", max_tokens=0, top_p=2.0)
    with pytest.raises(HTTPException) as caught:
        sampling_params(body, body.max_tokens, False)
    assert caught.value.status_code == 400
    assert "max_tokens: Input should be greater than or equal to 1 (got 0)" in caught.value.detail
    assert "top_p" in caught.value.detail


def test_openai_defaults_and_stop_string():
    body = CompletionRequest(model="m", prompt="x", stop="\n", user="ignored-extra-field")
    params = sampling_params(body, body.max_tokens, False)
    assert (params.max_new_tokens, params.stop, params.n) == (16, ["\n"], 1)


def test_chat_prompt_without_template(hf_generator):
    messages = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")]
    assert chat_prompt(hf_generator.tokenizer, messages) == "system: be brief\nuser: hi\nassistant: "
