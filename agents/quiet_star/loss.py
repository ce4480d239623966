"""The Quiet-STaR training loss on one batch.

For each chosen position p and each of its n thoughts, the mixed ("talk") prediction of the next
J true tokens x_{p+1..p+J} (after the thought, teacher-forced) gives log p_talk. Then:

- talk NLL: -log p_talk, trains the mixing head, the thought-token embeddings and the LM's
  use of a thought;
- REINFORCE: reward r = log p_talk(thought) - mean over the n thoughts of the same position
  (the baseline), loss -r * log p(thought tokens): thoughts that help predict the future become
  more likely;
- base LM NLL on the text without thoughts, so the model keeps speaking without them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.generators.quiet_star_model import QuietStarModel, ThoughtSettings


@dataclass
class LossWeights:
    talk: float = 1.0
    base: float = 1.0
    reinforce: float = 1.0


@dataclass
class Batch:
    """Right-padded text and the positions that get thoughts."""

    input_ids: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T) token ids where the loss counts, -100 elsewhere
    positions: torch.Tensor  # (B, P) positions p to think after
    position_valid: torch.Tensor  # (B, P) bool, False for padding entries of `positions`


def lookahead_targets(batch: Batch, lookahead: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets x_{p+1+j} (B, P, J) and whether each counts (inside the labelled text)."""
    offsets = torch.arange(1, lookahead + 1, device=batch.positions.device)
    index = batch.positions.unsqueeze(-1) + offsets  # (B, P, J)
    inside = index < batch.labels.shape[1]
    index = index.clamp(max=batch.labels.shape[1] - 1)
    labels = torch.gather(batch.labels.unsqueeze(1).expand(-1, index.shape[1], -1), 2, index)
    valid = inside & (labels != -100) & batch.position_valid.unsqueeze(-1)
    return labels.clamp(min=0), valid


def base_hidden_at(hidden: torch.Tensor, positions: torch.Tensor, lookahead: int) -> torch.Tensor:
    """Base hidden states at p + j (B, P, J, H): the no-thought prediction of x_{p+1+j}."""
    index = positions.unsqueeze(-1) + torch.arange(lookahead, device=positions.device)
    index = index.clamp(max=hidden.shape[1] - 1)
    flat = index.reshape(index.shape[0], -1)
    picked = torch.gather(hidden, 1, flat.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
    return picked.view(*index.shape, hidden.shape[-1])


def quiet_star_loss(model: QuietStarModel, batch: Batch, settings: ThoughtSettings | None = None,
                    weights: LossWeights | None = None, generator: torch.Generator | None = None) -> dict:
    """Scalar `loss` plus its parts (detached floats) for logging."""
    s, w = settings or model.settings, weights or LossWeights()
    n, lookahead = s.n_thoughts, s.lookahead
    hidden, cache = model.read_text(batch.input_ids)
    base_nll = torch.nn.functional.cross_entropy(
        model.logits(hidden[:, :-1]).flatten(0, 1).float(), batch.labels[:, 1:].flatten(), ignore_index=-100)
    targets, valid = lookahead_targets(batch, lookahead)
    forced = targets[..., :-1]  # x_{p+1} .. x_{p+J-1} are fed after the thought
    thoughts = model.think(cache, batch.positions, forced, s, generator)
    base = base_hidden_at(hidden, batch.positions, lookahead).repeat_interleave(n, 0)
    talk_logp = model.mixed_logits(base, thoughts.post_hidden).float().log_softmax(-1)
    talk_logp = talk_logp.gather(-1, targets.repeat_interleave(n, 0).unsqueeze(-1)).squeeze(-1)  # (R, P, J)
    valid_r = valid.repeat_interleave(n, 0).float()
    talk = (talk_logp * valid_r).sum(-1)  # (R, P): log p_talk of the J true tokens
    grouped = talk.view(-1, n, talk.shape[-1])
    reward = (grouped - grouped.mean(1, keepdim=True)).view_as(talk).detach()
    counted = valid_r[..., 0]  # a position counts when its next token does
    reinforce = -(reward * thoughts.logprobs.sum(-1) * counted).sum() / counted.sum().clamp(min=1)
    talk_nll = -(talk_logp * valid_r).sum() / valid_r.sum().clamp(min=1)
    loss = w.talk * talk_nll + w.base * base_nll + w.reinforce * reinforce
    with torch.no_grad():
        mixing = model.head(base, thoughts.post_hidden)[..., 0]
    return {"loss": loss, "talk_nll": talk_nll.item(), "base_nll": base_nll.item(), "reinforce": reinforce.item(),
            "reward_abs": (reward.abs() * counted).sum().item() / max(counted.sum().item(), 1.0),
            "mixing_weight": (mixing * valid_r).sum().item() / max(valid_r.sum().item(), 1.0)}
