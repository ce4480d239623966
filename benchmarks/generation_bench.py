"""Sampling throughput: ttc's `hf` backend vs `model.generate` (dynamic and static cache).

One random-weight Qwen2-shaped model (the 0.5B shape with `--config full`, a tiny one with
`--config small`), saved in the transformers format with a byte-level tokenizer without
merges, so a prompt of P random letters is exactly P tokens. No EOS exists (eos id None), so
every method decodes exactly --new-tokens steps; the bench checks the lengths it got.

Prints JSON lines: one `setup` line (device, dtype, measured copy bandwidth, weight bytes),
then one line per (method, n) with tokens/s, decode steps/s, wall_s and `bound_fraction`:
measured steps/s over the memory-bandwidth bound, where a decode step must read the weights
once plus the KV cache of n sequences at the average context length (prompt + new/2).
Each (method, n) gets one untimed warm-up run of the same shape first: on CUDA transformers
compiles the static-cache forward itself (CUDA graphs, one compile per batch size), which the
warm-up absorbs. A long GPU run can be split with --n and --methods; lines are flushed.

    python benchmarks/generation_bench.py                      # GPU: 0.5B shape, bf16
    python benchmarks/generation_bench.py --config small --n 1,4 --prompt-len 32 --new-tokens 16
"""
from __future__ import annotations

import argparse
import json
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

METHODS = ("generate_dynamic", "generate_static", "ttc_hf")
CONFIGS = {  # Qwen2-0.5B's shape (tied embeddings), and a CPU-sized one
    "full": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "small": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=512, vocab_size=4096, tie_word_embeddings=True),
}
DEFAULT_N = {"cuda": "1,16,64,256", "cpu": "1,4,16"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--n", default=None, help="comma-separated samples per prompt (default: "
                        f"{DEFAULT_N['cuda']} on CUDA, {DEFAULT_N['cpu']} on CPU)")
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per (method, n); the best counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copy-mib", type=int, default=None, help="bandwidth probe size (default: "
                        "1024 on CUDA, 256 on CPU)")
    args = parser.parse_args(argv)
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; valid: {', '.join(METHODS)}")
    return args


# ---------------------------------------------------------------- model and tokenizer


def byte_tokenizer(vocab_size: int) -> Any:
    """Qwen2's tokenizer class (AutoTokenizer picks it for a qwen2 config) with the 256 byte-level
    symbols and no merges: each ASCII letter is one token. Ids past 255 are unreachable fillers
    the model may still sample; they decode to `<w{id}>`. No EOS, pad or unk token."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    vocab = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({f"<w{i}>": i for i in range(len(vocab), vocab_size)})
    return Qwen2Tokenizer(vocab=vocab, merges=[], eos_token=None, pad_token=None, unk_token=None)


def random_prompt(length: int, seed: int) -> str:
    """`length` random ASCII letters: exactly `length` tokens under `byte_tokenizer`."""
    letters = string.ascii_letters
    picks = torch.randint(len(letters), (length,), generator=torch.Generator().manual_seed(seed))
    return "".join(letters[i] for i in picks.tolist())


def save_random_model(config_name: str, folder: Path, device: torch.device, dtype: torch.dtype, seed: int) -> None:
    """Random-init Qwen2 with no EOS (nothing can end a sequence early), written in the HF format."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = CONFIGS[config_name]
    config = Qwen2Config(**shape, max_position_embeddings=32768, bos_token_id=None, eos_token_id=None,
                         pad_token_id=None)
    torch.manual_seed(seed)
    with torch.device(device):  # initialising on the GPU takes seconds, not a minute
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = None
    model.to(dtype).save_pretrained(folder)
    byte_tokenizer(shape["vocab_size"]).save_pretrained(folder)
    del model
    if device.type == "cuda":  # cached blocks would count as used in HFGenerator's memory budget
        torch.cuda.empty_cache()


def weight_bytes_per_step(model: torch.nn.Module) -> int:
    """Bytes of weights a decode step reads: every parameter once, except an untied input
    embedding table (only n of its rows are read); a tied one is read in full as the LM head."""
    unique = {p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}
    total = sum(unique.values())
    embedding, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    if embedding.data_ptr() != head.data_ptr():
        total -= embedding.numel() * embedding.element_size()
    return total


# ---------------------------------------------------------------- measuring


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device: torch.device, mib: int, repeats: int = 10) -> float:
    """Bytes/s of a device-to-device copy; a copy reads and writes, so 2 * size per copy."""
    source = torch.empty(mib * 2**20, dtype=torch.uint8, device=device).fill_(1)
    target = torch.empty_like(source)
    target.copy_(source)  # warm-up: page in, start clocks
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    synchronize(device)
    return 2 * source.numel() * repeats / (time.perf_counter() - start)


def timed(run: Callable[[], int], device: torch.device, repeats: int) -> tuple[float, int]:
    """Best wall time over `repeats` runs after one untimed warm-up (compiles, allocator, caches)."""
    run()
    best, produced = float("inf"), 0
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        produced = run()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, produced


# ---------------------------------------------------------------- the three methods


def generate_runner(model: Any, prompt_ids: list[int], n: int, args: argparse.Namespace,
                    cache_implementation: str | None) -> Callable[[], int]:
    """`model.generate` sampling n sequences from one prompt; returns the new tokens it made."""
    ids = torch.tensor([prompt_ids], device=model.device)
    kwargs = dict(do_sample=True, num_return_sequences=n, max_new_tokens=args.new_tokens,
                  temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                  eos_token_id=None, pad_token_id=0)  # top_k=0: no top-k (None would mean 50)
    if cache_implementation:
        kwargs["cache_implementation"] = cache_implementation

    def run() -> int:  # generate runs under no_grad itself (CUDA graphs dislike inference tensors)
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        return out.shape[0] * (out.shape[1] - ids.shape[1])

    return run


def ttc_runner(generator: Any, prompt: str, n: int, args: argparse.Namespace) -> Callable[[], int]:
    from pipeline.core.types import SamplingParams

    params = SamplingParams(n=n, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                            max_new_tokens=args.new_tokens, seed=args.seed)

    def run() -> int:
        (completions,) = generator.generate([prompt], params)
        return sum(c.completion_tokens for c in completions)

    return run


def result_line(method: str, n: int, wall_s: float, produced: int, args: argparse.Namespace,
                setup: dict, kv_bytes_per_token: int, **extra: Any) -> dict:
    expected = n * args.new_tokens
    if produced != expected:
        raise RuntimeError(f"{method} at n={n} made {produced} new tokens, expected {expected}: "
                           "a sequence stopped early, so the timing would not be comparable")
    steps_per_s = args.new_tokens / wall_s
    average_context = args.prompt_len + args.new_tokens / 2
    bytes_per_step = setup["weight_bytes"] + n * average_context * kv_bytes_per_token
    bound_steps_per_s = setup["copy_bandwidth_gbps"] * 1e9 / bytes_per_step
    return {"method": method, "n": n, "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
            "wall_s": round(wall_s, 4), "tokens_per_s": round(expected / wall_s, 2),
            "decode_steps_per_s": round(steps_per_s, 3), "bytes_per_step": int(bytes_per_step),
            "bound_steps_per_s": round(bound_steps_per_s, 3),
            "bound_fraction": round(steps_per_s / bound_steps_per_s, 5), **extra}


def setup_line(generator: Any, args: argparse.Namespace, argv: list[str]) -> dict:
    import transformers

    from pipeline.generators.hf import kv_bytes_per_token

    model, device, dtype = generator.model, generator.device, generator.dtype
    copy_mib = args.copy_mib or (1024 if device.type == "cuda" else 256)
    return {"setup": True, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "dtype": str(dtype).removeprefix("torch."), "config": args.config,
            "parameters": sum(p.numel() for p in model.parameters()),
            "weight_bytes": weight_bytes_per_step(model), "kv_bytes_per_token": kv_bytes_per_token(model.config, dtype),
            "copy_bandwidth_gbps": round(copy_bandwidth(device, copy_mib) / 1e9, 2),
            "attention": model.config._attn_implementation, "torch": torch.__version__,
            "transformers": transformers.__version__, "argv": argv}


def measure(method: str, n: int, generator: Any, prompt: str, prompt_ids: list[int],
            args: argparse.Namespace, setup: dict) -> dict:
    model = generator.model  # the baselines run the very same weights
    if method == "ttc_hf":
        run = ttc_runner(generator, prompt, n, args)
    else:
        run = generate_runner(model, prompt_ids, n, args, "static" if method == "generate_static" else None)
    wall_s, produced = timed(run, generator.device, args.repeats)
    extra = {}
    if method == "generate_static":  # transformers compiles the static-cache forward on CUDA by itself
        extra["compiled"] = hasattr(model, "_compiled_call")
    return result_line(method, n, wall_s, produced, args, setup, setup["kv_bytes_per_token"], **extra)


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)  # flushed: a run cut short still leaves its lines


def main(argv: list[str] | None = None) -> list[dict]:
    from pipeline.generators.hf import HFGenerator, pick_device, pick_dtype

    args = parse_args(argv)
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    ns = [int(n) for n in (args.n or DEFAULT_N["cuda" if device.type == "cuda" else "cpu"]).split(",")]
    methods = args.methods.split(",")
    prompt = random_prompt(args.prompt_len, args.seed)
    lines = []
    with tempfile.TemporaryDirectory(prefix="generation-bench-") as folder:
        save_random_model(args.config, Path(folder), device, dtype, args.seed)
        with HFGenerator(folder, device=str(device), dtype=str(dtype).removeprefix("torch."),
                         max_batch_size=max(ns)) as generator:
            prompt_ids = generator.tokenizer(prompt)["input_ids"]
            if len(prompt_ids) != args.prompt_len:
                raise RuntimeError(f"the prompt encodes to {len(prompt_ids)} tokens, not {args.prompt_len}")
            setup = setup_line(generator, args, sys.argv[1:] if argv is None else argv)
            emit(setup)
            lines.append(setup)
            for n in ns:
                for method in methods:
                    line = measure(method, n, generator, prompt, prompt_ids, args, setup)
                    emit(line)
                    lines.append(line)
    return lines


if __name__ == "__main__":
    main()
