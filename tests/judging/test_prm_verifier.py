"""The `prm` verifier on the shipped tiny-math-prm: a score per step, prefixes scored as in the
whole solution, right steps above wrong ones (step_check's labels), and what it cannot score an
error, never a pass."""
from __future__ import annotations

import pytest

from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.types import Candidate
from pipeline.judging.prm import aggregate
from pipeline.judging.step_check import StepCheckVerifier
from pipeline.judging.verifiers import make_verifier

PRM = "models/tiny-math-prm"


@pytest.fixture(scope="module")
def prm():
    import torch

    torch.set_num_threads(1)
    return make_verifier("prm", model_path=PRM, device="cpu")


def candidates(task, texts):
    return [Candidate(task_id=task.id, sample_index=i, content=t) for i, t in enumerate(texts)]


def test_one_score_per_step_and_a_prefix_scores_as_in_the_whole(prm):
    task = make_tasks("test", 1)[0]
    whole = task.metadata["solution"]
    lines = whole.splitlines()
    verdicts = prm.verify(task, candidates(task, [whole, "\n".join(lines[:2]), "\n\n".join(lines)]))
    full, prefix, spaced = (v.details["step_scores"] for v in verdicts)
    assert len(full) == len(lines) and all(0.0 <= s <= 1.0 for s in full)
    assert prefix == pytest.approx(full[:2], abs=1e-5)  # causal: later steps do not change earlier scores
    assert spaced == pytest.approx(full, abs=1e-5)  # blank lines are not steps
    assert verdicts[0].score == full[-1] and verdicts[0].passed == (full[-1] >= 0.5)


def test_steps_step_check_passes_score_above_those_it_fails(prm):
    """tiny-math's own samples of 30 test problems, labelled by step_check: the PRM ranks right
    prefixes above wrong ones (AUC; the card measures 0.89 on 200 problems x 8)."""
    from models.reward.train_reward import auc
    from pipeline.core.types import SamplingParams
    from pipeline.generators.hf import HFGenerator

    tasks = make_tasks("test", 30)
    with HFGenerator("models/tiny-math", device="cpu") as generator:
        params = SamplingParams(n=4, temperature=0.8, max_new_tokens=96, stop=tasks[0].metadata["stop"], seed=0)
        samples = generator.generate([t.prompt for t in tasks], params)
    scores, labels = [], []
    for task, completions in zip(tasks, samples):
        texts = candidates(task, [c.text for c in completions])
        for verdict, truth in zip(prm.verify(task, texts), StepCheckVerifier().verify(task, texts)):
            if verdict.error or truth.error:
                continue
            scores += verdict.details["step_scores"]
            labels += truth.details["prefix_correct"]
    assert len(scores) > 200 and 0 < sum(labels) < len(labels)
    assert auc(scores, labels) > 0.8


def test_what_it_cannot_score_is_an_error(prm):
    task = make_tasks("test", 1)[0]
    long = "\n".join(["1 + 1 = 2"] * 200)  # past the model's 320-token context
    verdicts = prm.verify(task, candidates(task, ["", "\n\n", long, task.metadata["solution"]]))
    assert [bool(v.error) for v in verdicts] == [True, True, True, False]
    assert not any(v.passed for v in verdicts[:3])
    assert "context" in verdicts[2].error


def test_aggregations_and_bad_options():
    assert aggregate([0.9, 0.5, 0.8], "last") == 0.8
    assert aggregate([0.9, 0.5, 0.8], "min") == 0.5
    assert aggregate([0.9, 0.5, 0.8], "prod") == pytest.approx(0.36)
    with pytest.raises(ValueError, match="aggregation"):
        make_verifier("prm", model_path=PRM, aggregation="mean")
