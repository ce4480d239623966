import pytest

from pipeline.core.registry import UnknownNameError
from pipeline.judging.selectors import SELECTORS, combine_verdicts, make_selector
from pipeline.core.types import Candidate, Task, Verdict

MATH = Task(id="m", kind="math", prompt="1/2 + 0?", answer="0.5")
CODE = Task(id="c", kind="code", prompt="def f(x):", entry_point="f", tests="assert True")


def cands(task, contents):
    return [Candidate(task_id=task.id, sample_index=i, content=c) for i, c in enumerate(contents)]


def verdicts(candidates, scores, verifier="v"):
    return [Verdict(task_id=c.task_id, candidate_key=c.key, verifier=verifier, passed=s >= 0.5, score=s)
            for c, s in zip(candidates, scores)]


def test_majority_vote_groups_equal_answers_in_different_spellings():
    cs = cands(MATH, ["7", "\\frac{1}{2}", "0.5", "\\boxed{1/2}", "7"])
    pick = make_selector("majority_vote").select(MATH, cs, [])
    assert pick.candidate_key == cs[1].key and pick.content == "\\frac{1}{2}"  # lowest index of the winners
    assert pick.margin == pytest.approx(3 / 5 - 2 / 5)
    assert not pick.abstained and pick.correct is None


def test_majority_vote_abstains_on_a_weak_winner_share_or_margin():
    cs = cands(MATH, ["1", "1", "2", "3", "4"])
    assert not make_selector("majority_vote", abstain_below=0.4).select(MATH, cs, []).abstained
    weak = make_selector("majority_vote", abstain_below=0.5).select(MATH, cs, [])
    assert weak.abstained and weak.candidate_key is None and weak.margin == pytest.approx(0.2)
    assert make_selector("majority_vote", min_margin=0.25).select(MATH, cs, []).abstained
    assert make_selector("majority_vote").select(MATH, [], []).abstained


def test_majority_vote_ties_go_to_the_lowest_sample_index():
    cs = cands(MATH, ["2", "1", "1", "2"])
    pick = make_selector("majority_vote").select(MATH, list(reversed(cs)), [])
    assert pick.content == "2" and pick.candidate_key == cs[0].key and pick.margin == 0.0


def test_majority_vote_over_programs_uses_output_fingerprints():
    cs = cands(CODE, ["def f(x): return x*2", "def f(x): return x+x", "def f(x): return x**2"])
    plain = make_selector("majority_vote").select(CODE, cs, [])
    assert plain.candidate_key == cs[0].key and plain.margin == 0.0  # three distinct programs
    fingerprints = {cs[0].key: "out-A", cs[1].key: "out-A", cs[2].key: "out-B"}
    by_behaviour = make_selector("majority_vote").select(CODE, cs, [], fingerprints=fingerprints)
    assert by_behaviour.candidate_key == cs[0].key and by_behaviour.margin == pytest.approx(1 / 3)
    fingerprints = {cs[0].key: "out-A", cs[1].key: "out-B", cs[2].key: "out-B"}
    assert make_selector("majority_vote").select(CODE, cs, [], fingerprints=fingerprints).candidate_key == cs[1].key


def test_majority_vote_only_passed_filters_before_voting():
    cs = cands(MATH, ["1", "1", "1", "2"])
    vs = verdicts(cs, [0.0, 0.0, 0.0, 1.0])
    assert make_selector("majority_vote").select(MATH, cs, vs).content == "1"
    assert make_selector("majority_vote", only_passed=True).select(MATH, cs, vs).content == "2"
    assert make_selector("majority_vote", only_passed=True).select(MATH, cs, verdicts(cs, [0] * 4)).abstained


def test_weighted_vote_lets_confident_minority_win():
    cs = cands(MATH, ["1", "1", "1", "2"])
    vs = verdicts(cs, [0.1, 0.1, 0.1, 0.9])
    pick = make_selector("weighted_vote").select(MATH, cs, vs)
    assert pick.content == "2" and pick.margin == pytest.approx((0.9 - 0.3) / 1.2)
    assert make_selector("weighted_vote", abstain_below=0.8).select(MATH, cs, vs).abstained
    assert make_selector("weighted_vote").select(MATH, cs, verdicts(cs, [0.0] * 4)).abstained


def test_best_score_picks_the_top_and_abstains_below_threshold():
    cs = cands(CODE, ["a = 1", "b = 2", "c = 3", "b = 2"])
    vs = verdicts(cs, [0.2, 0.7, 0.7, 0.7])
    pick = make_selector("best_score").select(CODE, cs, vs)
    assert pick.candidate_key == cs[1].key and pick.margin == 0.0  # tie with 'c = 3', lower index wins
    vs = verdicts(cs, [0.2, 0.4, 0.9, 0.4])
    assert make_selector("best_score").select(CODE, cs, vs).margin == pytest.approx(0.5)
    assert make_selector("best_score", abstain_below=0.95).select(CODE, cs, vs).abstained


def test_first_passing_takes_the_lowest_index_that_passed():
    cs = cands(CODE, ["x = 0", "x = 1", "x = 2", "x = 3"])
    vs = verdicts(cs, [0.0, 0.0, 1.0, 1.0])
    shuffled = [cs[3], cs[0], cs[2], cs[1]]
    assert make_selector("first_passing").select(CODE, shuffled, vs).candidate_key == cs[2].key
    assert make_selector("first_passing").select(CODE, cs, verdicts(cs, [0.0] * 4)).abstained


def test_agent_pick_takes_sample_zero_and_abstains_when_it_is_empty():
    cs = cands(CODE, ["patch a", "patch b", "patch a"])
    pick = make_selector("agent_pick").select(CODE, list(reversed(cs)), verdicts(cs, [0, 1, 0]))
    assert pick.candidate_key == cs[0].key and not pick.abstained  # never looks at the verdicts
    empty = cands(CODE, ["", "patch b"])
    assert make_selector("agent_pick").select(CODE, empty, []).abstained
    assert make_selector("agent_pick").select(CODE, [], []).abstained


def test_errors_and_disagreeing_verifiers_never_count_as_a_pass():
    c = cands(CODE, ["x = 1"])[0]
    both = [Verdict(task_id="c", candidate_key=c.key, verifier="tests", passed=True, score=1.0),
            Verdict(task_id="c", candidate_key=c.key, verifier="rm", passed=False, score=0.0, error="oom")]
    judged = combine_verdicts(both)[c.key]
    assert not judged.passed and judged.score == 0.5
    assert make_selector("first_passing").select(CODE, [c], both).abstained


def test_registry_names_valid_selectors_and_options():
    assert set(SELECTORS) == {"majority_vote", "weighted_vote", "best_score", "first_passing", "agent_pick",
                              "confidence_vote"}
    with pytest.raises(UnknownNameError, match="best_score"):
        make_selector("oracle")
    with pytest.raises(TypeError, match="abstain_below"):
        make_selector("first_passing", threshold=0.3)
