"""prm_search's bookkeeping with a hand-written expander and scorer (the tree each method must
grow), then the strategy on the shipped tiny-math and tiny-math-prm: seeded searches reproduce
exactly, and a verifier that cannot score steps fails before any generation."""
from __future__ import annotations

import hashlib

import pytest

from agents.base import Tools
from agents.prm_search import PRMSearch
from agents.prm_search import methods
from agents.prm_search.paths import Path, Search, StepSample, derive_seed
from agents.prm_search.select import ranked
from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.types import SamplingParams

# --- hand-written search: children are labelled by their parent's label and their rank ------


def labelled_expander(calls: list):
    """The j-th child of a path whose last step is "c" is "cj" (the root's: "a", "b", ...)."""
    def expand(requests, seed):
        calls.append((tuple((p.steps, k) for p, k in requests), seed))
        return [[StepSample((p.steps[-1] + str(j)) if p.steps else "abcdefgh"[j], 1, "stop") for j in range(k)]
                for p, k in requests]
    return expand


def table_scorer(table: dict[str, float]):
    return lambda paths: [tuple(table[s.split()[0]] for s in p.steps) for p in paths]


def test_beam_search_keeps_n_over_m_and_grows_the_expected_tree():
    table = {"a": .9, "b": .2, "c": .7, "d": .4, "a0": .3, "a1": .8, "c0": .95, "c1": .1,
             "c00": .5, "c01": .6, "a00": .2, "a01": .99}
    calls: list = []
    expand = labelled_expander(calls)

    def with_answer(requests, seed):  # "a1" ends its path: it holds the answer marker
        return [[StepSample(s.text + " Answer: 1" if s.text == "a1" else s.text, s.tokens, s.finish) for s in group]
                for group in expand(requests, seed)]

    search = Search(with_answer, table_scorer(table), max_steps=3, seed=7)
    final = methods.beam(search, n=4, width=2)
    assert [e["kept"] for e in search.trace] == [[("a",), ("c",)], [("c", "c0"), ("a", "a0")]]
    assert [p.steps[-1].split()[0] for p in final] == ["a01", "a1", "c01", "c00"]  # the 4 best ended paths
    assert all(p.done for p in final) and final[1].steps == ("a", "a1 Answer: 1")
    assert [c[0] for c in calls] == [(((), 4),), ((("a",), 2), (("c",), 2)), ((("c", "c0"), 2), (("a", "a0"), 2))]
    assert [c[1] for c in calls] == [derive_seed(7, d) for d in range(3)]
    assert search.tokens == 12 and search.calls == 3
    assert final[0].scores == (.9, .3, .99) and final[0].tokens == 3


def seeded_expander(seen: list):
    """Children named by the seed they were drawn with: a subtree's steps tell its seeds."""
    def expand(requests, seed):
        seen.append(seed)
        return [[StepSample(f"{seed % 10_000}.{len(p.steps)}.{j}", 1, "stop") for j in range(k)] for p, k in requests]
    return expand


def hashed(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8


def test_dvts_subtrees_are_independent():
    seed, width, steps = 11, 2, 3
    subtree_one = {derive_seed(seed, 1, d) % 10_000 for d in range(steps)}

    def scorer(flip_subtree_one: bool):
        def value(step: str) -> float:
            mine = int(step.split(".")[0]) in subtree_one
            return 1 - hashed(step) if flip_subtree_one and mine else hashed(step)
        return lambda paths: [tuple(value(s) for s in p.steps) for p in paths]

    runs = []
    for flip in (False, True):
        seen: list = []
        search = Search(seeded_expander(seen), scorer(flip), max_steps=steps, seed=seed)
        final = methods.dvts(search, n=4, width=width)
        runs.append((search, final, seen))
    (plain, plain_final, plain_seen), (flipped, flipped_final, _) = runs
    def of_subtree(trace, j): return [e["kept"] for e in sorted(trace, key=lambda e: e["depth"]) if e["subtree"] == j]
    assert of_subtree(plain.trace, 0) == of_subtree(flipped.trace, 0)  # subtree 1's scores changed nothing in 0
    assert of_subtree(plain.trace, 1) != of_subtree(flipped.trace, 1)
    def from_zero(final): return sorted(p.steps for p in final if int(p.steps[0].split(".")[0]) not in subtree_one)
    assert from_zero(plain_final) == from_zero(flipped_final) and len(from_zero(plain_final)) == width
    assert sorted(plain_seen) == sorted(derive_seed(seed, j, d) for j in (0, 1) for d in range(steps))  # own seeds


def test_particle_filter_resamples_by_score_and_copies_get_distinct_children():
    calls: list = []
    table = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0} | {f"a{j}": 0.5 for j in range(4)}
    search = Search(labelled_expander(calls), table_scorer(table), max_steps=2, seed=3)
    final = methods.particle_filter(search, n=4, temperature=0.01)
    assert search.trace[0]["kept"] == [("a",)] * 4  # softmax(1/0.01) leaves only "a"
    assert calls[1][0] == ((("a",), 4),)  # four copies: one request of four samples
    assert sorted(p.steps for p in final) == [("a", f"a{j}") for j in range(4)]
    again = Search(labelled_expander([]), table_scorer(table), max_steps=2, seed=3)
    assert methods.particle_filter(again, n=4, temperature=0.01) == final


def test_particle_filter_stops_when_the_draw_keeps_only_ended_particles():
    """Regression: a draw of ended particles only left nothing to expand, and the search crashed."""
    calls: list = []
    expand = labelled_expander(calls)
    def a_ends(requests, seed):
        return [[StepSample("a Answer: 1" if s.text == "a" else s.text, 1, "stop") for s in group]
                for group in expand(requests, seed)]
    table = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}
    search = Search(a_ends, table_scorer(table), max_steps=4, seed=3)
    final = methods.particle_filter(search, n=4, temperature=0.01)
    assert [p.steps for p in final] == [("a Answer: 1",)] * 4 and len(calls) == 1


def test_particle_filter_resampling_is_seeded():
    table = {k: v for k, v in zip("abcd", (.9, .6, .5, .4))} | {f"{p}{j}": .5 for p in "abcd" for j in range(4)}
    def draw(seed): 
        search = Search(labelled_expander([]), table_scorer(table), max_steps=2, seed=seed)
        methods.particle_filter(search, n=4, temperature=1.0)
        return search.trace[0]["kept"]
    assert draw(1) == draw(1)
    assert len({tuple(draw(s)) for s in range(8)}) > 1


def test_final_selection_by_score_or_weighted_vote():
    paths = [Path(("x", "Answer: 5"), (.9, .9), True), Path(("y", "Answer: 7"), (.6, .6), True),
             Path(("z", "Answer: 7"), (.5, .5), True), Path(("w", "Answer: 5"), (.2, .1), True)]
    answer_of = lambda p: p.steps[-1].split()[-1]
    assert ranked(paths, "last", "last", answer_of) == [0, 1, 2, 3]
    assert ranked(paths, "weighted_vote", "last", answer_of)[0] == 1  # 7: 0.6 + 0.5 > 5: 0.9 + 0.1
    assert ranked(paths, "min", "last", answer_of)[0] == 0


# --- the strategy on the shipped models ----------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    import torch

    from pipeline.generators.hf import HFGenerator
    from pipeline.judging.prm import PRMVerifier

    torch.set_num_threads(1)
    generator = HFGenerator("models/tiny-math", device="cpu")
    yield generator.generate, PRMVerifier("models/tiny-math-prm", device="cpu").verify
    generator.close()


@pytest.mark.parametrize("method", ["beam", "dvts", "particle_filter", "best_of_n"])
def test_seeds_reproduce_a_search_exactly(shipped, method):
    generate, verify = shipped
    task = make_tasks("test", 1)[0]
    agent = PRMSearch(method=method, beam_width=2, max_steps=6)

    def search(seed: int):
        params = SamplingParams(n=4, temperature=1.0, max_new_tokens=24 if method != "best_of_n" else 96, seed=seed)
        return [t.model_dump(exclude={"generation_s"}) for t in agent.run(task, generate, params, 4, Tools(verify=verify))]

    first = search(5)
    assert first == search(5)
    if method == "particle_filter":  # another seed, another search (one method is enough to show it)
        assert first != search(6)
    assert [t["sample_index"] for t in first] == [4, 5, 6, 7]
    log = first[0]["steps"][0]
    assert log["kind"] == "search" and log["generated_tokens"] == sum(t["completion"]["completion_tokens"] for t in first)
    assert all(t["steps"][-1]["path_tokens"] <= log["generated_tokens"] for t in first)
    for trajectory in first:
        path = trajectory["steps"][-1]
        assert len(path["step_scores"]) == path["steps"] == len(trajectory["completion"]["text"].splitlines())


def test_a_verifier_that_cannot_score_steps_fails_before_generation(shipped):
    from pipeline.judging.verifiers import make_verifier

    task = make_tasks("test", 1)[0]
    generated = []
    generate = lambda prompts, params, processors=None: generated.append(prompts) or []
    for tools in (None, Tools(verify=make_verifier("exact_answer").verify), Tools(verify=make_verifier("step_check").verify)):
        with pytest.raises(ValueError, match="set verifier: prm"):
            PRMSearch().run(task, generate, SamplingParams(n=4), tools=tools)
    assert generated == []
