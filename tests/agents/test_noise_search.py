"""Diffusion noise search (issue 12): the diffusers sampler, the digit verifiers, the three
search algorithms, and the strategy through Ray (`ttc run` / SDK)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.base import Tools
from agents.noise_search import NoiseSearch, SearchContext, path_plan, sampler_callables, search
from pipeline.generators.diffusion import image_from_png_base64, png_base64
from pipeline.core.types import Candidate, SamplingParams, Task

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "tiny-ddpm"
BUDGET = 80  # NFEs: 8 full samples at 10 DDIM steps


@pytest.fixture(scope="module")
def generator():
    import torch

    from pipeline.generators.diffusion import DiffusionGenerator

    torch.set_num_threads(1)
    return DiffusionGenerator(str(MODEL), device="cpu")


@pytest.fixture(scope="module")
def search_verifier():
    from pipeline.judging.verifiers import make_verifier

    return make_verifier("digit_classifier", checkpoint="search")


def digit_task(label: int) -> Task:
    return Task(id=f"digit-{label}", kind="image", prompt=str(label), answer=str(label), metadata={"label": label})


def local_tools(generator, verifier) -> Tools:
    return Tools(call_generator=lambda method, *a, **k: getattr(generator, method)(*a, **k), verify=verifier.verify)


def test_same_seed_same_image(generator):
    params = SamplingParams(n=3, seed=11)
    first = [c.text for c in generator.generate(["7"], params)[0]]
    again = [c.text for c in generator.generate(["7"], params)[0]]
    other = [c.text for c in generator.generate(["7"], params.model_copy(update={"seed": 12}))[0]]
    assert first == again
    assert len(set(first)) == 3 and set(first).isdisjoint(other)
    assert image_from_png_base64(first[0]).shape == (16, 16)


def test_a_row_does_not_depend_on_its_batch(generator):
    noises = np.random.default_rng(0).standard_normal((4, 1, 16, 16)).astype(np.float32)
    together = generator.sample(noises, [1, 2, 3, 4], eta=1.0, seed=5)["images"]
    alone = generator.sample(noises[:2], [1, 2], eta=1.0, seed=5)["images"]
    assert np.array_equal(together[:2], alone)


def test_continuing_a_partial_run_equals_one_full_run(generator):
    noises = np.random.default_rng(1).standard_normal((2, 1, 16, 16)).astype(np.float32)
    half = generator.continue_from(noises, [3, 8], 0, 4)
    rest = generator.continue_from(half["latents"], [3, 8], 4)
    full = generator.sample(noises, [3, 8])
    assert half["nfe"] + rest["nfe"] == full["nfe"] == 10
    assert np.array_equal(rest["images"], full["images"])


def test_schedulers_come_from_diffusers(generator):
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

    assert isinstance(generator.unet, UNet2DModel)
    scheduler = generator.new_scheduler(10)
    assert type(scheduler) is DDIMScheduler and len(scheduler.timesteps) == 10
    assert type(DDPMScheduler.from_pretrained(MODEL, subfolder="scheduler")) is DDPMScheduler


def test_verifier_scores_real_digits_and_rejects_non_images(search_verifier):
    from models.diffusion.digits import load_half

    images, labels = load_half("b")
    pixels = ((images[:20, 0] + 1) * 127.5).round().astype(np.uint8)
    task = digit_task(int(labels[0]))
    candidates = [Candidate(task_id=task.id, sample_index=i, content=png_base64(p)) for i, p in enumerate(pixels)]
    verdicts = search_verifier.verify(task, candidates)
    assert verdicts[0].passed and verdicts[0].score > 0.5
    assert [v.details["predicted"] for v in verdicts] != [int(labels[0])] * 20  # it discriminates
    broken = search_verifier.verify(task, [Candidate(task_id=task.id, sample_index=0, content="not a png")])
    assert broken[0].error and not broken[0].passed


def test_path_plan_walks_to_the_last_step():
    plan = path_plan(10, 3, 1)
    assert plan[0] == (0, 3) and plan[-1][1] == 10
    assert all(b[0] == a[1] - 1 for a, b in zip(plan, plan[1:]))
    with pytest.raises(ValueError, match="backtrack"):
        path_plan(10, 3, 3)


def mean_search_score(generator, verifier, algorithm: str, budget: int, seeds=(1,), labels=range(10)) -> float:
    scores = []
    for label in labels:
        task = digit_task(label)
        tools = local_tools(generator, verifier)
        for seed in seeds:
            denoise, renoise = sampler_callables(tools.call_generator, label, 10, 0.0, 1)
            score = lambda images, t=task: [v.score for v in verifier.verify(t, [  # noqa: E731
                Candidate(task_id=t.id, sample_index=0, content=png_base64(i)) for i in images])]
            ctx = SearchContext(denoise, renoise, score, (1, 16, 16), 10, seed)
            scores.append(search(algorithm, ctx, budget).score)
            assert ctx.nfe <= max(budget, 28)  # paths' smallest plan: 2 paths x 14 steps
    return float(np.mean(scores))


@pytest.fixture(scope="module")
def single_sample_score(generator, search_verifier) -> float:
    return mean_search_score(generator, search_verifier, "random", 10)  # a budget of one sample


@pytest.mark.parametrize("algorithm", ["random", "zero_order", "paths"])
def test_each_algorithm_beats_a_single_sample(generator, search_verifier, single_sample_score, algorithm):
    """One sample already scores ~0.98 (measured 0.983 on seed 1): the search must at least
    halve what is missing to 1 (measured: 8x to 47x less at 80 NFEs)."""
    searched = mean_search_score(generator, search_verifier, algorithm, BUDGET)
    assert 1 - searched < 0.5 * (1 - single_sample_score), (algorithm, single_sample_score, searched)


def test_agent_trajectory_records_nfe_and_scores(generator, search_verifier):
    agent = NoiseSearch(algorithm="zero_order", nfe_budget=30)
    task = digit_task(4)
    runs = [agent.run(task, None, SamplingParams(n=1, seed=2), 0, local_tools(generator, search_verifier))
            for _ in range(2)]
    steps = runs[0][0].steps
    assert steps[-1]["final"] and steps[-1]["nfe"] == 30
    assert [s["nfe"] for s in steps[:-1]] == [10, 30]
    assert runs[0][0].completion.text == runs[1][0].completion.text  # same seed, same image
    with pytest.raises(ValueError, match="unknown noise search algorithm"):
        NoiseSearch(algorithm="beam")
    with pytest.raises(ValueError, match="takes options"):
        NoiseSearch(algorithm="random", radius=0.3)  # a zero_order option


def test_a_few_training_steps_of_both_models(tmp_path):
    import torch

    from models.diffusion.digits import load_half
    from models.diffusion.train_ddpm import save, train
    from models.diffusion.train_verifiers import accuracy, train_classifier
    from pipeline.generators.diffusion import DiffusionGenerator

    torch.set_num_threads(1)
    unet, scheduler, log = train(3, batch_size=8, log_every=1)
    assert len(log) == 3 and all(np.isfinite(entry["loss"]) for entry in log)
    save(unet, scheduler, tmp_path / "ddpm", log, {"steps": 3})
    assert DiffusionGenerator(str(tmp_path / "ddpm"), device="cpu").sample(
        np.zeros((1, 1, 16, 16), np.float32), [0], steps=2)["images"].shape == (1, 16, 16)
    images, labels = load_half("a")
    model = train_classifier(images[:200], labels[:200], epochs=2)
    assert 0.0 <= accuracy(model, images[200:300], labels[200:300]) <= 1.0


def test_noise_search_through_ray_with_the_sdk(ray_local, tmp_path):
    """configs/noise_search.yaml through the SDK (a runner Session: generator actor, Engine,
    verifier, held-out oracle, selector) on 2 tasks with a 20-NFE budget."""
    from pipeline.interfaces.sdk import Client
    from pipeline.engine.store import RunStore

    with Client(config=REPO / "configs/noise_search.yaml", output_dir=str(tmp_path),
                strategy_options__nfe_budget=20) as client:
        results = [client.best_of_n(digit_task(label), n=1, strategy="noise_search", verifier="digit_classifier",
                                    selector="best_score") for label in (2, 5)]
    for res in results:
        assert image_from_png_base64(res.best.content).shape == (16, 16)
        assert res.candidates[0].verdict.verifier == "digit_classifier"
        assert res.selection.correct is not None  # judged by the held-out oracle
        verdicts = {v["verifier"] for v in RunStore(res.run_dir).read("verdicts")}
        assert verdicts == {"digit_classifier", "digit_classifier_heldout"}
        trajectory = RunStore(res.run_dir).read("samples")[0]["trajectory"]
        assert trajectory["steps"][-1]["nfe"] == 20
