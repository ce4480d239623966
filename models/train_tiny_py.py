"""Train models/tiny-py, a small Python code model, on real projects' source (CPU, fixed seed).

    python -m models.train_tiny_py --out models/tiny-py --steps 600 --seed 0

Data: every .py file of the TRAIN projects of models/code_corpus.py (pinned sdists; the
HELD_OUT projects of the monitor-guided decoding benchmark are never read here), joined with
the eos token and cut into windows. Tokenizer, model and loop are models/train_tiny.py's:
a byte-level BPE saved as PreTrainedTokenizerFast and a LlamaForCausalLM, loss on every token.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict
from pathlib import Path

from models.train_tiny import Recipe, build_model, save, train, train_tokenizer

RECIPE = Recipe(task_module="", train_programs=0, data_seeds=1, vocab_size=2048, hidden=160, layers=4,
                heads=4, mlp=448, max_len=256, batch=24, lr=3e-3, warmup=30)


def training_texts(limit_files: int | None = None, source_dir: Path | None = None) -> list[str]:
    """The TRAIN projects' files (fetched on first use), or every .py file under `source_dir`."""
    from models.code_corpus import TRAIN, fetch, project_root, python_files

    roots = [source_dir] if source_dir else (project_root(fetch(project)) for project in TRAIN)
    texts = []
    for root in roots:
        for path in python_files(root):
            text = path.read_text(encoding="utf-8", errors="replace")
            if text.strip():
                texts.append(text)
        if limit_files and len(texts) >= limit_files:
            return texts[:limit_files]
    return texts


def windows(texts: list[str], tokenizer, width: int) -> list[tuple[list[int], int]]:
    """All files' tokens, eos between files, cut into `width`-token windows (loss from token 0)."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
    return [(stream[i:i + width], 0) for i in range(0, len(stream) - width + 1, width)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-files", type=int, default=None, help="fewer files (quick tests)")
    parser.add_argument("--source-dir", type=Path, default=None, help="train on this folder's .py files instead")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    texts = training_texts(args.limit_files, args.source_dir)
    random.Random(args.seed).shuffle(texts)
    tokenizer = train_tokenizer(texts, RECIPE.vocab_size)
    examples = windows(texts, tokenizer, RECIPE.max_len)
    model = build_model(RECIPE, tokenizer)
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny-py: {len(texts)} files, {len(examples)} windows of {RECIPE.max_len} tokens, "
          f"vocab {len(tokenizer)}, {params / 1e6:.2f}M params", flush=True)
    losses = train(model, examples, RECIPE, args.steps, args.seed, tokenizer.pad_token_id)
    info = {"model": "tiny-py", "steps": args.steps, "seed": args.seed, "params": params, "files": len(texts),
            "train_windows": len(examples), "final_loss": sum(losses[-25:]) / len(losses[-25:]),
            "wall_s": round(time.time() - started, 1), "recipe": asdict(RECIPE),
            "torch_threads": torch.get_num_threads()}
    save(args.out, model, tokenizer, info)
    print(json.dumps({k: v for k, v in info.items() if k != "recipe"}), flush=True)


if __name__ == "__main__":
    main()
