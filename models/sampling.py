"""Load a tiny model folder and draw seeded samples from it (used by the eval scripts and tests)."""
from __future__ import annotations

from pathlib import Path


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


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    result = 1.0
    for i in range(n - c + 1, n + 1):
        result *= 1.0 - k / i
    return 1.0 - result
