"""Quiet-STaR (Zelikman et al., 2024) around any transformers causal LM.

After a text position p the model thinks: <|startofthought|> t_1 .. t_L <|endofthought|>, and the
hidden state after <|endofthought|> predicts x_{p+1} (then, teacher-forced, x_{p+2}, ...). A mixing
head weighs the post-thought logits against the base logits of the same prediction.

Thoughts for many positions are sampled in parallel, one "block" per thought step: block k holds
the k-th thought token of every chosen position. The key layout is [text | block 0 | block 1 | ..]
and a block-k query at position p attends the text up to p and its own earlier blocks only (a
diagonal per block), with position ids p+1+k, so each thought computes exactly what it would
alone after x_{<=p} (tests compare with that slow reference).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

START, END = "<|startofthought|>", "<|endofthought|>"
HEAD_FILE, SETTINGS_FILE = "mixing_head.safetensors", "quiet_star.json"


@dataclass
class ThoughtSettings:
    """How the model thinks; stored with a checkpoint as its defaults."""

    n_thoughts: int = 2  # thoughts sampled per position
    thought_length: int = 4  # tokens between start and end of thought
    lookahead: int = 4  # true tokens predicted after a thought (teacher forcing beyond the first)
    thought_temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.n_thoughts < 1 or self.thought_length < 0 or self.lookahead < 1 or self.thought_temperature <= 0:
            raise ValueError(f"invalid thought settings {asdict(self)}: need n_thoughts >= 1, "
                             "thought_length >= 0, lookahead >= 1, thought_temperature > 0")


@dataclass
class Thoughts:
    """What `think` returns; R = rows * n_thoughts (thought s of row b is row b*n + s)."""

    tokens: torch.Tensor  # (R, P, L) sampled thought tokens
    logprobs: torch.Tensor  # (R, P, L) their log-probabilities
    hidden: torch.Tensor  # (R, P, L+1+J, H) final hidden state of every block
    lookahead: int  # J: the last J blocks predict x_{p+1} .. x_{p+J}

    @property
    def post_hidden(self) -> torch.Tensor:
        """(R, P, J, H): hidden states after the end of thought, predicting x_{p+1+j}."""
        return self.hidden[:, :, -self.lookahead:]


class MixingHead(nn.Module):
    """Shallow MLP on [base hidden, post-thought hidden] -> weight of the post-thought logits."""

    def __init__(self, hidden: int, initial_bias: float = -2.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        # start near a constant weight sigmoid(initial_bias); not exactly zero, so the first layer learns too
        nn.init.normal_(self.net[2].weight, std=1e-2)
        nn.init.constant_(self.net[2].bias, initial_bias)

    def forward(self, base: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([base, post], dim=-1)))


def expand_cache(cache, n: int):
    """A new DynamicCache holding each row's keys/values n times (the original is untouched)."""
    from transformers import DynamicCache

    return DynamicCache([(layer.keys.repeat_interleave(n, 0), layer.values.repeat_interleave(n, 0))
                         for layer in cache.layers])


def block_mask(positions: torch.Tensor, text_len: int, blocks: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask (R, 1, P, T + blocks*P) of one thought block: text up to p, own blocks only."""
    rows, count = positions.shape
    device = positions.device
    sees_text = torch.arange(text_len, device=device).view(1, 1, -1) <= positions.unsqueeze(-1)
    own = torch.eye(count, dtype=torch.bool, device=device).expand(rows, count, count)
    allowed = torch.cat([sees_text, *([own] * blocks)], dim=-1)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min).unsqueeze(1)


class QuietStarModel(nn.Module):
    """A causal LM with start/end-of-thought tokens and a mixing head."""

    def __init__(self, lm, start_id: int, end_id: int, settings: ThoughtSettings, head: MixingHead | None = None):
        super().__init__()
        self.lm, self.start_id, self.end_id, self.settings = lm, start_id, end_id, settings
        hidden = lm.config.get_text_config().hidden_size
        self.head = head if head is not None else MixingHead(hidden)

    # ------------------------------------------------------------ construction and checkpoints

    @classmethod
    def from_base(cls, lm, tokenizer, settings: ThoughtSettings, init_text: str = "---") -> QuietStarModel:
        """Add the thought tokens to `tokenizer` and `lm`; their embeddings start as the mean
        embedding of `init_text` (the paper uses "---", a dash that already reads as a pause)."""
        tokenizer.add_special_tokens({"additional_special_tokens": [START, END]})
        source = tokenizer.encode(init_text, add_special_tokens=False)
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        start_id, end_id = tokenizer.convert_tokens_to_ids([START, END])
        with torch.no_grad():
            for embeddings in {id(m): m for m in (lm.get_input_embeddings(), lm.get_output_embeddings())}.values():
                embeddings.weight[[start_id, end_id]] = embeddings.weight[source].mean(0)
        return cls(lm, start_id, end_id, settings)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        """(model, tokenizer) from a folder written by `save`."""
        from safetensors.torch import load_file
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / SETTINGS_FILE).is_file() or not (path / HEAD_FILE).is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a Quiet-STaR checkpoint: it needs {SETTINGS_FILE} and "
                                    f"{HEAD_FILE} beside the transformers weights (write it with QuietStarModel.save)")
        info = json.loads((path / SETTINGS_FILE).read_text())
        tokenizer = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        head = MixingHead(lm.config.get_text_config().hidden_size)
        head.load_state_dict(load_file(path / HEAD_FILE))
        start_id, end_id = tokenizer.convert_tokens_to_ids([info["start_token"], info["end_token"]])
        model = cls(lm, start_id, end_id, ThoughtSettings(**info["settings"]), head)
        return model.to(device=device, dtype=dtype).eval(), tokenizer

    def save(self, path: str | Path, tokenizer, extra: dict | None = None) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.lm.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.head.state_dict().items()}, path / HEAD_FILE)
        info = {"start_token": START, "end_token": END, "settings": asdict(self.settings),
                "mixing_head": {"file": HEAD_FILE, "input": "[base hidden, post-thought hidden]"}, **(extra or {})}
        (path / SETTINGS_FILE).write_text(json.dumps(info, indent=2) + "\n")

    # ------------------------------------------------------------ forward pieces

    @property
    def decoder(self):
        return getattr(self.lm, self.lm.base_model_prefix)

    def run_decoder(self, cache, **kwargs):
        """The decoder with a KV cache; transformers 5.x renamed `past_key_values` to `cache`."""
        if not hasattr(self, "_cache_kwarg"):
            import inspect

            self._cache_kwarg = "cache" if "cache" in inspect.signature(self.decoder.forward).parameters \
                else "past_key_values"
        return self.decoder(**kwargs, use_cache=True, **{self._cache_kwarg: cache})

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm.get_output_embeddings()(hidden)

    def read_text(self, input_ids: torch.Tensor, cache=None):
        """Final hidden states of plain causal text (right padding needs no mask) and the KV cache."""
        from transformers import DynamicCache

        cache = cache if cache is not None else DynamicCache()
        out = self.run_decoder(cache, input_ids=input_ids)
        return out.last_hidden_state, cache

    def think(self, cache, positions: torch.Tensor, true_ids: torch.Tensor | None = None,
              settings: ThoughtSettings | None = None, generator: torch.Generator | None = None) -> Thoughts:
        """Thoughts after every position in `positions` (B, P) of the text in `cache` (B rows).

        Each thought is sampled n times; `true_ids` (B, P, J-1) are the tokens teacher-forced
        after the end of thought (x_{p+1} .. x_{p+J-1}); None means J = 1.
        """
        s = settings or self.settings
        n, length = s.n_thoughts, s.thought_length
        text_len = cache.get_seq_length()
        cache = expand_cache(cache, n)
        positions = positions.repeat_interleave(n, 0)
        forced = (true_ids.repeat_interleave(n, 0) if true_ids is not None
                  else positions.new_zeros((*positions.shape, 0)))
        inputs = torch.full_like(positions, self.start_id)
        tokens, logprobs, hidden = [], [], []
        dtype = next(self.lm.parameters()).dtype
        for k in range(length + 1 + forced.shape[-1] + 1):
            out = self.run_decoder(cache, input_ids=inputs, position_ids=positions + 1 + k,
                                   attention_mask=block_mask(positions, text_len, k + 1, dtype))
            hidden.append(out.last_hidden_state)
            if k < length:
                inputs, logprob = self._sample_thought_token(out.last_hidden_state, s.thought_temperature, generator)
                tokens.append(inputs)
                logprobs.append(logprob)
            elif k == length:
                inputs = torch.full_like(positions, self.end_id)
            elif k - length - 1 < forced.shape[-1]:
                inputs = forced[..., k - length - 1]
        empty = positions.new_zeros((*positions.shape, 0))
        return Thoughts(tokens=torch.stack(tokens, -1) if tokens else empty,
                        logprobs=torch.stack(logprobs, -1) if logprobs else empty.float(),
                        hidden=torch.stack(hidden, 2), lookahead=forced.shape[-1] + 1)

    def _sample_thought_token(self, hidden: torch.Tensor, temperature: float, generator):
        logits = self.logits(hidden).float() / temperature
        logits[..., [self.start_id, self.end_id]] = float("-inf")  # a thought cannot open or close itself
        logp = logits.log_softmax(-1)
        flat = logp.detach().exp().reshape(-1, logp.shape[-1])
        token = torch.multinomial(flat, 1, generator=generator).view(logp.shape[:-1])
        return token, logp.gather(-1, token.unsqueeze(-1)).squeeze(-1)

    def mixed_logits(self, base_hidden: torch.Tensor, post_hidden: torch.Tensor) -> torch.Tensor:
        """Logits interpolated by the mixing head's weight w: w * post + (1 - w) * base."""
        weight = self.head(base_hidden, post_hidden)
        return weight * self.logits(post_hidden) + (1 - weight) * self.logits(base_hidden)

    @torch.no_grad()
    def next_token_scores(self, cache, last_hidden: torch.Tensor, settings: ThoughtSettings | None = None,
                          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B, V) of the token after the text in `cache`, thinking n thoughts
        after its last position and averaging their mixed distributions; and the thought tokens."""
        s = settings or self.settings
        rows = last_hidden.shape[0]
        positions = torch.full((rows, 1), cache.get_seq_length() - 1, device=last_hidden.device)
        thoughts = self.think(cache, positions, None, s, generator)
        base = last_hidden.repeat_interleave(s.n_thoughts, 0).unsqueeze(1)  # (R, 1, H)
        mixed = self.mixed_logits(base, thoughts.post_hidden[:, :, 0]).float().log_softmax(-1)
        scores = mixed.view(rows, s.n_thoughts, -1).logsumexp(1) - torch.log(torch.tensor(float(s.n_thoughts)))
        scores[:, [self.start_id, self.end_id]] = float("-inf")  # thought tokens never appear in the text
        return scores, thoughts.tokens.view(rows, s.n_thoughts, -1)
