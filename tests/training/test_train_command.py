"""`ttc train` end to end on Ray Train (one CPU worker), the RL loop, and config errors."""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from pipeline.interfaces.cli import main
from pipeline.training.config import build_train_config
from pipeline.training.loop import train
from tests.training.run_dirs import write_run_dir


def _embedding(folder: str) -> torch.Tensor:
    return AutoModelForCausalLM.from_pretrained(folder).model.embed_tokens.weight.detach()


def test_a_bad_field_fails_in_one_line_before_ray(capsys):
    assert main(["train", "configs/train/tiny_math.yaml", "optim.lr=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "optim.lr" in err and "-1" in err
    assert main(["train", "configs/train/tiny_math.yaml", "method=dpo"]) == 2
    assert "dco, rl_verifier, sft_verified" in capsys.readouterr().err
    assert main(["train", "configs/train/tiny_math.yaml", "method=dco"]) == 2  # no data.run_dir
    assert "data.run_dir" in capsys.readouterr().err


def test_ttc_train_writes_a_loadable_checkpoint_with_a_card(ray_local, tmp_path, capsys):
    run_dir = write_run_dir(tmp_path / "run")
    out = tmp_path / "ckpt"
    code = main(["train", "configs/train/tiny_math.yaml", "method=dco", "dco.n=16", f"data.run_dir={run_dir}",
                 "optim.steps=2", "optim.batch_size=4", "checkpoint_every=1", f"out_dir={out}", "optim.lr=1e-3"])
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"checkpoint: {out}"
    card = (out / "README.md").read_text()
    for fact in ("`dco` (N = 16)", str(run_dir), "| seed | 0 |", "| steps | 2 |", "models/tiny-math"):
        assert fact in card, fact
    assert (out / "checkpoints" / "step-000001" / "model.safetensors").is_file()
    assert not torch.equal(_embedding(str(out)), _embedding("models/tiny-math"))  # it trained


def test_rl_verifier_samples_verifies_and_moves_the_policy(tmp_path):
    config = build_train_config({"method": "rl_verifier", "seed": 1, "optim": {"steps": 2, "lr": 1e-3},
                                 "rl": {"tasks": {"source": "arith_word", "split": "train", "limit": 16},
                                        "prompts_per_step": 2, "samples_per_prompt": 6, "max_new_tokens": 48}})
    kept = {}
    curve = train(config, torch.device("cpu"), on_checkpoint=lambda step, policy, tok, c: kept.update(policy=policy),
                  log=lambda line: None)
    assert [r["samples_drawn"] for r in curve] == [12, 12]
    assert all(0.0 <= r["reward_mean"] <= 1.0 and r["train_tokens"] > 0 for r in curve)
    moved = kept["policy"].model.embed_tokens.weight.detach()
    assert not torch.equal(moved, _embedding("models/tiny-math"))
