"""Train one of ttc's tiny GPT-style models on its synthetic train split (CPU, fixed seed).

    python -m models.train_tiny --model tiny-coder --out models/tiny-coder --steps 450 --seed 0

One nanoGPT-style loop over a transformers LlamaForCausalLM; a byte-level BPE tokenizer trained
on the same train texts and saved as PreTrainedTokenizerFast. Loss is on the completion only
(the prompt is context). The folder written is loadable by AutoModelForCausalLM/AutoTokenizer.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

EOS, PAD = "<|endoftext|>", "<|pad|>"


@dataclass(frozen=True)
class Recipe:
    task_module: str  # benchmarks.tasks.<task_module>
    train_programs: int  # distinct train tasks per data seed
    data_seeds: int  # the train split is drawn this many times (new examples, same programs)
    vocab_size: int = 1024
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    mlp: int = 384
    max_len: int = 320
    batch: int = 32
    lr: float = 3e-3
    warmup: int = 30


RECIPES = {
    "tiny-coder": Recipe(task_module="synthetic_code", train_programs=6000, data_seeds=3),
    "tiny-math": Recipe(task_module="arith_word", train_programs=20000, data_seeds=1),
}


def training_pairs(recipe: Recipe, seed: int, programs: int | None = None) -> list[tuple[str, str]]:
    """(prompt, completion) pairs, all from the train split."""
    import importlib

    tasks_module = importlib.import_module(f"benchmarks.tasks.{recipe.task_module}")
    pairs = []
    for data_seed in range(recipe.data_seeds):
        for task in tasks_module.make_tasks("train", programs or recipe.train_programs, seed=seed * 1000 + data_seed):
            pairs.append((task.prompt, tasks_module.reference_completion(task)))
    return pairs


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE; newlines and digits stay single tokens so prompts end on a clean boundary."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=None, model_max_length=1024, clean_up_tokenization_spaces=False)


def build_model(recipe: Recipe, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.hidden, intermediate_size=recipe.mlp,
        num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads, num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.max_len, tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def encode_pairs(pairs, tokenizer, max_len: int) -> list[tuple[list[int], int]]:
    """Token ids of prompt + completion + eos, and where the completion starts."""
    encoded = []
    for prompt, completion in pairs:
        p = tokenizer.encode(prompt, add_special_tokens=False)
        c = tokenizer.encode(completion, add_special_tokens=False) + [tokenizer.eos_token_id]
        if len(p) + len(c) <= max_len:
            encoded.append((p + c, len(p)))
    return encoded


def make_batch(examples, pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id)
    labels = torch.full((len(examples), width), -100)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, start) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, start : len(ids)] = torch.tensor(ids[start:])
        attention[row, : len(ids)] = 1
    return input_ids, attention, labels


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up to `peak`, then cosine decay to a tenth of it."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer_step(model, optimizer, loss, losses: list[float], step: int, steps: int, started: float) -> None:
    """Backward, clip to norm 1, step; record the loss and print the recent mean every 25 steps."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    losses.append(loss.item())
    if step % 25 == 0 or step == steps - 1:
        recent = sum(losses[-25:]) / len(losses[-25:])
        lr = optimizer.param_groups[0]["lr"]
        print(f"step {step}/{steps} loss {recent:.3f} lr {lr:.2e} {time.time() - started:.0f}s", flush=True)


def train(model, examples, recipe: Recipe, steps: int, seed: int, pad_id: int) -> list[float]:
    import torch

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.1, betas=(0.9, 0.95))
    losses, started = [], time.time()
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, recipe.lr, recipe.warmup)
        input_ids, attention, labels = make_batch(rng.sample(examples, recipe.batch), pad_id)
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer_step(model, optimizer, loss, losses, step, steps, started)
    return losses


def save(out: Path, model, tokenizer, info: dict) -> None:
    from transformers import GenerationConfig

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    GenerationConfig(bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id, max_new_tokens=128).save_pretrained(out)
    (out / "training_log.json").write_text(json.dumps(info, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(RECIPES), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=450)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-tasks", type=int, default=None, help="fewer train tasks per data seed (quick tests)")
    # 1 thread: on the shared 2-core machine, 2 threads measured ~4x slower per step (oversubscription)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    recipe = RECIPES[args.model]
    pairs = training_pairs(recipe, args.seed, args.train_tasks)
    tokenizer = train_tokenizer([p + c for p, c in pairs], recipe.vocab_size)
    examples = encode_pairs(pairs, tokenizer, recipe.max_len)
    model = build_model(recipe, tokenizer)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model}: {len(examples)} train examples, vocab {len(tokenizer)}, {params / 1e6:.2f}M params", flush=True)
    losses = train(model, examples, recipe, args.steps, args.seed, tokenizer.pad_token_id)
    info = {"model": args.model, "steps": args.steps, "seed": args.seed, "params": params,
            "train_examples": len(examples), "final_loss": sum(losses[-25:]) / len(losses[-25:]),
            "wall_s": round(time.time() - started, 1), "recipe": asdict(recipe),
            "torch_threads": torch.get_num_threads()}
    save(args.out, model, tokenizer, info)
    print(json.dumps({k: v for k, v in info.items() if k != "recipe"}), flush=True)


if __name__ == "__main__":
    main()
