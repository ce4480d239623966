"""The generation benchmark runs on CPU (tiny config) and prints well-formed JSON lines.

No timing thresholds (shared machines are noisy): only that every line parses, carries its
keys with positive numbers, and that the derived numbers agree with each other."""
from __future__ import annotations

import json

from pytest import approx

from benchmarks import generation_bench

TINY = ["--config", "small", "--n", "1,4", "--prompt-len", "32", "--new-tokens", "16", "--device", "cpu"]
SETUP_NUMBERS = ("parameters", "weight_bytes", "kv_bytes_per_token", "copy_bandwidth_gbps")
RESULT_NUMBERS = ("wall_s", "tokens_per_s", "decode_steps_per_s", "bytes_per_step", "bound_steps_per_s",
                  "bound_fraction")
AVERAGE_CONTEXT = 32 + 16 / 2


def test_tiny_cpu_run_prints_one_line_per_method_and_n(capsys):
    returned = generation_bench.main(TINY)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert lines == returned
    setup, *results = lines
    assert (setup["setup"], setup["device"], setup["dtype"]) == (True, "cpu", "float32")
    assert all(setup[key] > 0 for key in SETUP_NUMBERS), setup
    assert [(r["method"], r["n"]) for r in results] == [
        (method, n) for n in (1, 4) for method in generation_bench.METHODS]
    for result in results:
        assert all(result[key] > 0 for key in RESULT_NUMBERS), result
        assert result["tokens_per_s"] == approx(result["n"] * 16 / result["wall_s"], rel=1e-2)
        assert result["decode_steps_per_s"] == approx(16 / result["wall_s"], rel=1e-2)
        assert result["bound_fraction"] == approx(result["decode_steps_per_s"] / result["bound_steps_per_s"], rel=1e-2)
        kv_bytes = result["n"] * AVERAGE_CONTEXT * setup["kv_bytes_per_token"]
        assert result["bytes_per_step"] == setup["weight_bytes"] + kv_bytes


def test_weight_bytes_count_a_tied_head_once_and_skip_an_untied_embedding():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, vocab_size=1000)
    tied = Qwen2ForCausalLM(Qwen2Config(**shape, tie_word_embeddings=True))
    untied = Qwen2ForCausalLM(Qwen2Config(**shape, tie_word_embeddings=False))
    all_untied = sum(p.numel() * 4 for p in untied.parameters())
    assert generation_bench.weight_bytes_per_step(untied) == all_untied - 1000 * 32 * 4
    assert generation_bench.weight_bytes_per_step(tied) == all_untied - 1000 * 32 * 4
