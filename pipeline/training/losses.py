"""The training losses, on per-sequence log-probabilities; plain torch.

Every loss here is a sum over sequences divided by the batch's completion tokens, so that at
equal learning rate they are on the scale of token-mean cross-entropy (and `dco` with N=1 *is*
it, value and gradient).
"""
from __future__ import annotations

import torch

# log p is kept below this: at p = 1 the coverage loss and its weight are 0/0
MAX_LOGPROB = -1e-6


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the summed log-probability of its labelled tokens (labels -100 are ignored;
    labels[t] is predicted from logits[t - 1]) and how many tokens were labelled."""
    shifted_logits, shifted_labels = logits[:, :-1, :].float(), labels[:, 1:]
    mask = shifted_labels != -100
    token_logprobs = shifted_logits.log_softmax(-1).gather(-1, shifted_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (token_logprobs * mask).sum(-1), mask.sum(-1)


def cross_entropy_loss(seq_logprobs: torch.Tensor, token_counts: torch.Tensor) -> torch.Tensor:
    """Token-mean cross-entropy of the target sequences: -sum_i log p_i / sum_i T_i."""
    return -seq_logprobs.sum() / token_counts.sum().clamp(min=1)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - e^x) for x < 0, accurate at both ends (Maechler's switch at -log 2): expm1 near 0,
    log1p for very negative x, where 1 - e^x rounds to 1."""
    near_zero = x > -0.6931471805599453
    # each branch sees a safe input where it is not used, or its inf/NaN gradient leaks through where()
    small, large = torch.where(near_zero, x, -1.0), torch.where(near_zero, -1.0, x)
    return torch.where(near_zero, torch.log(-torch.expm1(small)), torch.log1p(-torch.exp(large)))


def coverage_nll(seq_logprobs: torch.Tensor, n: int) -> torch.Tensor:
    """Per sequence, -log(1 - (1 - p)^N) with p = exp(log p): minus the log of the chance that at
    least one of N independent samples reproduces it. In log space: a = N * log(1 - p) and
    loss = -log(1 - e^a), both by log1mexp, so a 60-token trajectory (log p ~ -100) stays finite."""
    logp = seq_logprobs.double().clamp(max=MAX_LOGPROB)  # float64: the nested logs lose float32 digits
    return (-log1mexp(n * log1mexp(logp))).to(seq_logprobs.dtype)


def dco_weight(p: torch.Tensor, n: int) -> torch.Tensor:
    """The factor by which DCO scales cross-entropy's gradient, in closed form:
    F(N, p) = N * p * (1 - p)^(N - 1) / (1 - (1 - p)^N).

    Derivation: with l = log p, the DCO loss is L(l) = -log(1 - (1 - e^l)^N), so
        dL/dl = -[N (1 - p)^(N - 1) * p] / [1 - (1 - p)^N]      (dp/dl = p),
    while cross-entropy -l has dCE/dl = -1. Hence dL/dtheta = F(N, p) * dCE/dtheta with F as
    above. F = 1 at N = 1 (DCO is cross-entropy), F -> 1 as p -> 0 (an unlikely trajectory is
    learnt as under CE), and for N > 1 F falls towards 0 as p -> 1: once N samples would find
    the trajectory anyway, the loss stops sharpening the model on it (limited confidence)."""
    log_keep = torch.log1p(-p.clamp(max=1 - 1e-12))  # log(1 - p); in log space so tiny p keeps F -> 1
    return n * p * torch.exp((n - 1) * log_keep) / -torch.expm1(n * log_keep)


def dco_loss(seq_logprobs: torch.Tensor, token_counts: torch.Tensor, n: int) -> torch.Tensor:
    """Direct coverage optimisation: sum_i -log(1 - (1 - p_i)^N) / sum_i T_i, p_i the model's
    probability of the whole verified trajectory i. Its gradient is dco_weight(p_i, N) times
    cross_entropy_loss's, per sequence."""
    return coverage_nll(seq_logprobs, n).sum() / token_counts.sum().clamp(min=1)


def advantages(rewards: list[float], groups: list[int], kind: str = "mean_baseline") -> list[float]:
    """Per sample, its reward minus the mean reward of its task's samples (`mean_baseline`,
    REINFORCE with a per-task baseline), or that divided by the task's reward std (`grpo`;
    a task whose samples all got the same reward gets 0 either way)."""
    by_group: dict[int, list[float]] = {}
    for reward, group in zip(rewards, groups):
        by_group.setdefault(group, []).append(reward)
    stats = {g: _mean_std(values) for g, values in by_group.items()}
    out = []
    for reward, group in zip(rewards, groups):
        mean, std = stats[group]
        centred = reward - mean  # 0 when all of the task's rewards are equal
        out.append(centred / (std + 1e-6) if kind == "grpo" and std > 0 else centred)
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


ADVANTAGES = ("mean_baseline", "grpo")


def policy_gradient_loss(seq_logprobs: torch.Tensor, token_counts: torch.Tensor,
                         sample_advantages: torch.Tensor) -> torch.Tensor:
    """REINFORCE: -sum_i A_i log pi(y_i | x_i) / sum_i T_i. A descent step raises the
    log-probability of samples with A_i > 0 (rewarded above their task's baseline) and lowers
    those with A_i < 0."""
    return -(sample_advantages.detach() * seq_logprobs).sum() / token_counts.sum().clamp(min=1)
