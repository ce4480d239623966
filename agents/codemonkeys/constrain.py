"""Constrained edit decoding for small models: the answer to an edit prompt may only spell one of
a fixed set of edit blocks, and the model's probabilities choose among them.

tiny-fixer cannot copy a line exactly (a 1.6M-parameter model trained for minutes), so its free
SEARCH texts never match. With `choices`, a logits processor admits only tokens that keep the
answer a prefix of some allowed block and, once a block is complete, only end-of-text. The
blocks offered are single-token edits of the shown window's lines: every mutation
agents/codemonkeys/mutations.py can make of those lines (operator swaps, off-by-one, another
local name, a dropped condition) read as a candidate fix. That is the operator family the
benchmark injects bugs with, so fixes of symmetric kinds (`<`/`<=`, `+`/`-`, n/n±1, some
wrong names) are reachable and the rest (a dropped condition to restore, a dropped `not`) are
not: coverage measured with it says how well the model *ranks* such edits, not that it writes
them. Bigger models run unconstrained.
"""
from __future__ import annotations

from functools import lru_cache

from agents.codemonkeys.edits import DIVIDER, REPLACE


def edit_choices(module_text: str, first_line: int, count: int) -> list[str]:
    """Answer texts (after the prefilled SEARCH marker) of single-token edits of lines
    first_line+1 .. first_line+count of `module_text` (SEARCH unique within those lines)."""
    from agents.codemonkeys.mutations import mutations

    lines = module_text.splitlines()[first_line:first_line + count]
    choices = []
    for m in mutations(module_text):
        if first_line < m.line <= first_line + count and lines.count(m.original) == 1:
            choices.append(f"{m.original}\n{DIVIDER}\n{m.mutated}\n{REPLACE}\n")
    return list(dict.fromkeys(choices))


@lru_cache(maxsize=4)
def _vocabulary(model_path: str):
    """(tokenizer, char trie of token texts, eos id) of a model folder, once per process."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    trie: dict = {}
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if not text or token_id in tokenizer.all_special_ids:
            continue
        node = trie
        for char in text:
            node = node.setdefault(char, {})
        node.setdefault(None, []).append(token_id)
    return tokenizer, trie, tokenizer.eos_token_id


def tokens_along(trie: dict, rest: str) -> list[int]:
    """Ids of tokens whose text is a non-empty prefix of `rest`."""
    found, node = [], trie
    for char in rest:
        node = node.get(char)
        if node is None:
            break
        found += node.get(None, [])
    return found


class ChoiceProcessor:
    """Logits processor (one request, any rows): the generated text stays a prefix of one of
    `choices`; a completed choice may only be followed by end-of-text. Picklable: the tokenizer
    is loaded from `model_path` where it runs (the generator actor)."""

    def __init__(self, model_path: str, choices: list[str]):
        if not choices:
            raise ValueError("ChoiceProcessor needs at least one choice")
        self.model_path, self.choices = model_path, choices
        self.prompt_len: int | None = None

    def __call__(self, input_ids, scores):
        import torch

        tokenizer, trie, eos = _vocabulary(self.model_path)
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        masked = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            done = tokenizer.decode(input_ids[row, self.prompt_len:].tolist())
            allowed = set()
            for choice in self.choices:
                if choice == done:
                    allowed.add(eos)
                elif choice.startswith(done):
                    allowed.update(tokens_along(trie, choice[len(done):]))
            if not allowed:  # off every choice (cannot happen from a clean start): let it end
                allowed.add(eos)
            index = torch.tensor(sorted(allowed))
            masked[row, index] = scores[row, index]
        return masked
