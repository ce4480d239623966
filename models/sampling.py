"""Load a tiny model folder and draw seeded samples from it (used by the eval scripts and tests)."""
from __future__ import annotations

from pathlib import Path

from pipeline.judging.evaluation import pass_at_k  # noqa: F401 - re-exported for the evals


def load(folder: str | Path):
    """(model, tokenizer) from a save_pretrained folder, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    return model, tokenizer


def sample(model, tokenizer, prompt: str, n: int, temperature: float, max_new_tokens: int, seed: int) -> list[str]:
    """n completions of one prompt; temperature 0 means greedy (then n copies of one text)."""
    import torch

    torch.manual_seed(seed)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    greedy = temperature == 0
    with torch.no_grad():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
            do_sample=not greedy, temperature=None if greedy else temperature, top_k=0 if not greedy else None,
            num_return_sequences=1 if greedy else n, pad_token_id=tokenizer.pad_token_id,
        )
    texts = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    return texts * n if greedy else texts


def eval_main(argv: list[str] | None, description: str, model: str, tasks: int, n: int,
              make_tasks, evaluate_task, summarise, extra: dict | None = None) -> None:
    """The shared command line of the model evals: one JSON line per task, then a summary."""
    import argparse
    import json
    import time

    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=model)
    parser.add_argument("--tasks", type=int, default=tasks)
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded, tokenizer = load(args.model)
    started, rows = time.time(), []
    for index, task in enumerate(make_tasks("test", args.tasks, seed=args.seed)):
        rows.append(evaluate_task(loaded, tokenizer, task, args.n, args.temperature, args.seed + index))
        print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows, args.n) | {"temperature": args.temperature, **(extra or {}),
                                          "wall_s": round(time.time() - started, 1)}
    print(json.dumps({"summary": summary}), flush=True)
