"""Quiet-STaR: the parallel thought mask equals thinking position by position, gradients reach
the mixing head and the thought-token embeddings, training lowers the loss, decoding with
thoughts is seeded, and `ttc run configs/quiet_star.yaml` works through Ray."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from agents.quiet_star.loss import Batch, quiet_star_loss  # noqa: E402
from pipeline.generators.quiet_star_model import QuietStarModel, ThoughtSettings  # noqa: E402
from agents.quiet_star.train import load_examples, make_batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "models" / "tiny-math"
CHECKPOINT = ROOT / "models" / "tiny-math-quietstar"
SETTINGS = ThoughtSettings(n_thoughts=2, thought_length=3, lookahead=3)


@pytest.fixture()
def model_and_tokenizer():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    lm = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32)
    return QuietStarModel.from_base(lm, tokenizer, SETTINGS), tokenizer


def fixed_batch(tokenizer, rows: int = 3, positions: int = 5) -> Batch:
    examples = load_examples("arith_word", rows, seed=0, tokenizer=tokenizer)
    return make_batch(examples, tokenizer.pad_token_id, positions, random.Random(0))


def slow_reference(model: QuietStarModel, text: list[int], thought: list[int], forced: list[int]) -> torch.Tensor:
    """Hidden states of [start, thought, end, forced] after the text, one plain causal forward."""
    ids = text + [model.start_id, *thought, model.end_id, *forced]
    hidden = model.decoder(input_ids=torch.tensor([ids])).last_hidden_state[0]
    return hidden[len(text):]


def test_parallel_thoughts_equal_thinking_position_by_position(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    batch = fixed_batch(tokenizer)  # rows of different lengths: right padding is exercised
    lengths = (batch.input_ids != tokenizer.pad_token_id).sum(1)
    assert len(set(lengths.tolist())) > 1
    forced = torch.gather(batch.input_ids, 1, (batch.positions.unsqueeze(-1) + torch.arange(1, 3)).clamp(
        max=batch.input_ids.shape[1] - 1).flatten(1)).view(*batch.positions.shape, 2)
    with torch.no_grad():
        _, cache = model.read_text(batch.input_ids)
        thoughts = model.think(cache, batch.positions, forced, generator=torch.Generator().manual_seed(1))
        n = SETTINGS.n_thoughts
        for r in range(thoughts.tokens.shape[0]):
            b = r // n
            for q, p in enumerate(batch.positions[b].tolist()):
                text = batch.input_ids[b, : p + 1].tolist()
                reference = slow_reference(model, text, thoughts.tokens[r, q].tolist(), forced[b, q].tolist())
                torch.testing.assert_close(thoughts.hidden[r, q], reference, atol=2e-5, rtol=1e-4)
                logp = model.logits(reference[: SETTINGS.thought_length]).log_softmax(-1)
                logp[:, [model.start_id, model.end_id]] = float("-inf")
                expected = logp.log_softmax(-1).gather(-1, thoughts.tokens[r, q].unsqueeze(-1)).squeeze(-1)
                torch.testing.assert_close(thoughts.logprobs[r, q], expected, atol=2e-5, rtol=1e-4)
    assert thoughts.hidden.shape[2] == SETTINGS.thought_length + 1 + forced.shape[-1] + 1


def test_gradients_reach_mixing_head_and_thought_embeddings(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    out = quiet_star_loss(model, fixed_batch(tokenizer), generator=torch.Generator().manual_seed(0))
    out["loss"].backward()
    for name, parameter in model.head.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    grad = model.lm.get_input_embeddings().weight.grad
    assert grad[model.start_id].abs().sum() > 0 and grad[model.end_id].abs().sum() > 0
    assert out["reinforce"] != 0.0  # thoughts got a learning signal


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    batch = fixed_batch(tokenizer, rows=4, positions=6)
    loss_at = lambda: quiet_star_loss(model, batch, generator=torch.Generator().manual_seed(0))  # noqa: E731
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = loss_at()["loss"].item()
    for _ in range(6):
        optimizer.zero_grad()
        loss_at()["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        after = loss_at()["loss"].item()
    assert after < 0.9 * before, (before, after)


def test_checkpoint_round_trip_and_cli_steps(tmp_path):
    from agents.quiet_star import train

    out = tmp_path / "qs"
    info = train.main(["--base", str(BASE), "--out", str(out), "--steps", "2", "--batch", "2", "--positions", "3",
                       "--thought-length", "2", "--train-tasks", "20", "--log-every", "1"])
    assert len(info["curve"]) == 2
    model, tokenizer = QuietStarModel.load(out)
    assert model.settings.thought_length == 2 and tokenizer.convert_ids_to_tokens(model.end_id) == "<|endofthought|>"
    ids = torch.tensor([tokenizer.encode("Question: Tom has 3 pens.", add_special_tokens=False)])
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(out)  # a standard transformers folder
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, model.lm(ids).logits)


def test_shipped_checkpoint_decodes_with_thoughts_seeded():
    from benchmarks.tasks.arith_word import STOP_SEQUENCES, make_tasks
    from pipeline.generators.quiet_star import QuietStarGenerator
    from pipeline.core.types import SamplingParams

    generator = QuietStarGenerator(str(CHECKPOINT), device="cpu")
    prompt = make_tasks("test", 1)[0].prompt
    params = SamplingParams(n=2, temperature=0.8, max_new_tokens=12, stop=STOP_SEQUENCES, seed=5)
    first = generator.generate_with_thoughts([prompt], params, n_thoughts=2, thought_length=2)[0]
    again = generator.generate_with_thoughts([prompt], params, n_thoughts=2, thought_length=2)[0]
    assert first == again
    for completion in first:
        steps = len(completion.token_ids) + (completion.finish_reason == "eos")
        assert completion.completion_tokens >= len(completion.token_ids) + steps * 2 * (2 + 2)
        assert "<|startofthought|>" not in completion.text


def test_ttc_run_with_quiet_star_through_ray(ray_local, tmp_path):
    from pipeline.core.config import load_config
    from pipeline.engine.runner import run

    config = load_config(ROOT / "configs" / "quiet_star.yaml", [
        "tasks.limit=2", "sampling.n=2", "sampling.max_new_tokens=16", "runner.chunk_size=2", "model.device=cpu",
        "strategy_options.thought_length=2", f"runner.output_dir={tmp_path}"])
    result = run(config)
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    assert summary["samples"] == 4 and summary["errors"] == 0, summary
    samples = [json.loads(line) for line in (Path(result.run_dir) / "samples.jsonl").read_text().splitlines()]
    steps = [s["trajectory"]["steps"][0] for s in samples]
    assert all(step["thought_tokens"] >= step["visible_tokens"] * 2 * 4 > 0 for step in steps)
