"""A checkpoint is a plain transformers folder (save_pretrained + tokenizer) with a card
(README.md) and training.json; any run config can name it as `model.path`."""
from __future__ import annotations

import json
from pathlib import Path

CARD = """# {name}

Fine-tuned by `ttc train` (pipeline/training) from `{base}`.

| | |
|---|---|
| method | `{method}`{method_note} |
| data run | {data_run} |
| seed | {seed} |
| steps | {steps} |
| base model | `{base}` |
| samples drawn while training | {samples_drawn} |
| training tokens (completion tokens with a gradient) | {train_tokens} |
| final loss (mean of the last 10 steps) | {final_loss} |
| wall time | {wall_s} s on {workers} Ray Train worker(s), use_gpu={use_gpu} |

Load it with `AutoModelForCausalLM.from_pretrained(FOLDER)`, or sample it with
`ttc run CONFIG model.path=FOLDER`. `training.json` holds the full train config and the
per-step curve.
"""


def method_note(config: dict) -> str:
    if config["method"] == "dco":
        return f" (N = {config['dco']['n']})"
    if config["method"] == "rl_verifier":
        rl = config["rl"]
        return (f" ({rl['advantage']}, {rl['prompts_per_step']} prompts x {rl['samples_per_prompt']} samples per step, "
                f"verifier {rl['verifier']}, temperature {rl['temperature']})")
    return ""


def card_text(config: dict, curve: list[dict], wall_s: float) -> str:
    recent = curve[-10:]
    data_run = f"`{config['data']['run_dir']}` (its passing samples)" if config["method"] != "rl_verifier" else (
        f"none: fresh samples of `{config['rl']['tasks']['source']}` train split")
    return CARD.format(
        name=Path(config.get("out_dir") or config["name"]).name, base=config["model"]["path"], method=config["method"],
        method_note=method_note(config), data_run=data_run, seed=config["seed"], steps=len(curve),
        samples_drawn=sum(r["samples_drawn"] for r in curve), train_tokens=sum(r["train_tokens"] for r in curve),
        final_loss=round(sum(r["loss"] for r in recent) / len(recent), 5), wall_s=round(wall_s, 1),
        workers=config["scaling"]["num_workers"], use_gpu=config["scaling"]["use_gpu"])


def save_checkpoint(folder: str | Path, model, tokenizer, config: dict, curve: list[dict], wall_s: float) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(card_text(config, curve, wall_s))
    info = {"config": config, "steps": len(curve), "wall_s": round(wall_s, 1), "curve": curve}
    (folder / "training.json").write_text(json.dumps(info) + "\n")
    return folder
