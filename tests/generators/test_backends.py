"""The generator backend registry: names, lazy imports, and the options each backend takes."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from pipeline.core.config import BACKEND_OPTIONS, MODEL_FIELD_OPTIONS, ConfigError, build_config
from pipeline.core.registry import UnknownNameError
from pipeline.generators import BACKENDS, make_generator


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid: diffusers, hf, openai_compat, quiet_star$"):
        make_generator("vllm")  # a server behind openai_compat, not an in-process backend


def test_choosing_a_backend_module_does_not_import_the_others():
    code = ("import sys, pipeline.generators, pipeline.generators.openai_compat; "
            "print(sorted(m for m in ('torch', 'transformers', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- options per backend: config.BACKEND_OPTIONS against the backends' signatures ----------------

NOT_IN_CONFIGS = {"api_key"}  # a config names an environment variable instead (api_key_env)
FIELD_VALUES = {"device": "cpu", "dtype": "float32", "max_batch_size": 2, "base_url": "http://127.0.0.1:9/v1"}


def backend_factory(backend: str):
    import importlib

    module_name, attr = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module_name), attr)


def config_with_every_option(backend: str):
    takes = BACKEND_OPTIONS[backend]
    model = {"backend": backend, **{f: FIELD_VALUES[f] for f in takes if f in MODEL_FIELD_OPTIONS},
             "options": {k: 1 for k in takes if k not in MODEL_FIELD_OPTIONS}}
    return build_config({"model": model})


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_option_a_config_gives_reaches_the_backend_and_every_backend_option_is_settable(backend):
    from pipeline.engine.actors import generator_options

    options = generator_options(config_with_every_option(backend))
    parameters = inspect.signature(backend_factory(backend)).parameters
    inspect.signature(backend_factory(backend)).bind(**options)  # a TypeError names an option it lacks
    assert set(parameters) - NOT_IN_CONFIGS == set(options), "an option of the backend no config can set"


def test_the_config_knows_every_registered_backend():
    assert set(BACKEND_OPTIONS) == set(BACKENDS)


@pytest.mark.parametrize("model, words", [
    ({"backend": "openai_compat", "base_url": "http://127.0.0.1:8000/v1", "dtype": "float16"},
     ["backend 'openai_compat' does not take dtype", "it takes base_url, max_batch_size, options.api_key_env"]),
    ({"backend": "openai_compat", "base_url": "http://127.0.0.1:8000/v1", "options": {"max_batch_size": 8}},
     ["does not take options.max_batch_size"]),
    ({"backend": "hf", "base_url": "http://127.0.0.1:8000/v1"}, ["backend 'hf' does not take base_url"]),
    ({"backend": "hf", "options": {"steps": 10, "device": "cpu"}},
     ["backend 'hf' does not take options.steps, options.device", "options.memory_budget_mb"]),
    ({"backend": "quiet_star", "options": {"memory_budget_mb": 100}}, ["'quiet_star' does not take options.memory"]),
    ({"backend": "openai_compat", "path": "served"}, ["'openai_compat' needs base_url"]),
], ids=["remote-dtype", "field-as-option", "local-base_url", "foreign-options", "quiet_star", "no-base_url"])
def test_an_option_the_backend_does_not_take_fails_at_config_time(model, words):
    with pytest.raises(ConfigError) as failed:
        build_config({"model": model})
    for word in words:
        assert word in str(failed.value)


def test_options_a_backend_takes_pass_and_a_dumped_config_reloads():
    config = build_config({"model": {"backend": "hf", "device": "cpu", "options": {"memory_budget_mb": 64}}})
    assert config.model.options == {"memory_budget_mb": 64}
    remote = build_config({"model": {"backend": "openai_compat", "path": "m", "base_url": "http://127.0.0.1:8000/v1",
                                     "options": {"chat": True, "api_key_env": "MY_KEY"}}})
    assert build_config(remote.model_dump(mode="json")) == remote  # defaults repeated on disk are no choice


def test_the_shipped_server_config_is_openai_compat_on_loopback():
    from pathlib import Path
    from urllib.parse import urlparse

    from pipeline.core.config import load_config
    from pipeline.engine.actors import generator_options

    config = load_config(Path(__file__).resolve().parents[2] / "configs/openai_compat_server.yaml")
    assert config.model.backend == "openai_compat" and config.model.path
    assert urlparse(config.model.base_url).hostname == "127.0.0.1"
    options = generator_options(config)
    assert options["model"] == config.model.path and options["concurrency"] == config.model.max_batch_size
    inspect.signature(backend_factory("openai_compat")).bind(**options)


def test_api_key_env_names_the_variable_that_holds_the_key(monkeypatch):
    from pipeline.generators.openai_compat import OpenAICompatError, OpenAICompatGenerator

    monkeypatch.setenv("TTC_TEST_SERVER_KEY", "s3cret-key")
    with OpenAICompatGenerator("m", "http://127.0.0.1:9/v1", api_key_env="TTC_TEST_SERVER_KEY") as generator:
        assert generator.headers == {"Authorization": "Bearer s3cret-key"}
    monkeypatch.delenv("TTC_TEST_SERVER_KEY")
    with pytest.raises(OpenAICompatError, match="'TTC_TEST_SERVER_KEY', but that environment variable is not set"):
        OpenAICompatGenerator("m", "http://127.0.0.1:9/v1", api_key_env="TTC_TEST_SERVER_KEY")


def test_token_counts_come_from_usage_when_choices_carry_neither_ids_nor_logprobs():
    from pipeline.core.types import Completion
    from pipeline.generators.openai_compat import _count_from_usage

    bare = [Completion(text="a"), Completion(text="b"), Completion(text="c")]
    assert [c.completion_tokens for c in _count_from_usage(bare, 8)] == [3, 3, 2]  # the total is kept
    counted = [Completion(text="a", completion_tokens=2), Completion(text="b", completion_tokens=5)]
    assert _count_from_usage(counted, 99) == counted  # the choices' own counts win
    assert _count_from_usage(bare, 0) == bare
