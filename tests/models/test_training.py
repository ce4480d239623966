"""The tiny models: the training script makes a loadable folder; the committed models load and write."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tasks import arith_word, synthetic_code
from models import train_tiny
from models.sampling import load, pass_at_k, sample

MODELS = Path(__file__).resolve().parents[2] / "models"
COMMITTED = {"tiny-coder": synthetic_code, "tiny-math": arith_word}
STANDARD_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "generation_config.json", "README.md"]


def test_five_training_steps_make_a_loadable_folder(tmp_path):
    out = tmp_path / "tiny"
    train_tiny.main(["--model", "tiny-math", "--out", str(out), "--steps", "5", "--train-tasks", "300"])
    model, tokenizer = load(out)
    task = arith_word.make_tasks("test", 1)[0]
    text = sample(model, tokenizer, task.prompt, 1, 0.0, max_new_tokens=8, seed=0)[0]
    assert isinstance(text, str) and len(tokenizer.encode(text, add_special_tokens=False)) <= 8


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_model_is_standard_and_small(name):
    folder = MODELS / name
    for file in STANDARD_FILES:
        assert (folder / file).is_file(), f"{folder / file} is missing"
    assert (folder / "model.safetensors").stat().st_size <= 8 * 2**20


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_tokenizer_round_trips_code_exactly(name):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODELS / name)
    text = 'def f(xs):\n    xs = [x + 3 for x in xs]\n\n\tif s == "a b":\n        return  sorted(xs)  # 12\n'
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_model_writes_its_task_format(name):
    model, tokenizer = load(MODELS / name)
    tasks = COMMITTED[name].make_tasks("test", 3)
    texts = [sample(model, tokenizer, t.prompt, 1, 0.0, max_new_tokens=64, seed=0)[0] for t in tasks]
    if name == "tiny-coder":
        programs = [synthetic_code.candidate_program(t, x) for t, x in zip(tasks, texts)]
        assert all(p.count("\n    ") >= 1 and "return" in p for p in programs), programs
    else:
        assert all(arith_word.extract_answer(x) is not None for x in texts), texts


def test_sampling_is_seeded():
    model, tokenizer = load(MODELS / "tiny-coder")
    prompt = synthetic_code.make_tasks("test", 1)[0].prompt
    first = sample(model, tokenizer, prompt, 4, 0.8, max_new_tokens=32, seed=7)
    assert first == sample(model, tokenizer, prompt, 4, 0.8, max_new_tokens=32, seed=7)


def test_pass_at_k_estimator():
    assert pass_at_k(64, 0, 1) == 0.0
    assert pass_at_k(64, 64, 1) == 1.0
    assert pass_at_k(64, 16, 1) == pytest.approx(0.25)
    assert pass_at_k(64, 1, 64) == 1.0
    assert pass_at_k(10, 2, 3) == pytest.approx(1 - (8 * 7 * 6) / (10 * 9 * 8))
