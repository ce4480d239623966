"""Verifiers on real executions (a local subprocess, and the Docker sandbox when it is up) and
real, tiny, random-init transformers models built here."""
import time

import pytest

from pipeline.core.registry import UnknownNameError
from pipeline.core.types import Candidate, ExecutionResult, SamplingParams, Task
from pipeline.judging.verifiers import (
    VERIFIERS, ExactAnswerVerifier, LLMJudgeVerifier, RewardModelVerifier, UnitTestVerifier, make_verifier,
    parse_judgement, program_outputs, subprocess_executor,
)
from pipeline.judging.sandboxed import stderr_tail

ADD_TESTS = "from solution import add\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
ADD_TASK = Task(id="add", prompt="Write add(a, b).", entry_point="add", tests=ADD_TESTS)
HUMANEVAL_TASK = Task(
    id="HumanEval-x", prompt="def add(a, b):\n", entry_point="add", metadata={"test_format": "humaneval"},
    tests="METADATA = {}\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(0, 0) == 0\n")
GOOD, BAD = "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"


def cands(task, contents):
    return [Candidate(task_id=task.id, sample_index=i, content=c) for i, c in enumerate(contents)]


class CountingExecutor:
    """The real local executor, counting calls (to check dedup)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, cmd, files, timeout_s, peer=None):
        self.calls += 1
        return subprocess_executor(cmd, files, timeout_s=timeout_s, peer=peer)


# --- local executor and unit tests ----------------------------------------------------------


def test_subprocess_executor_reports_exit_output_and_kills_on_timeout():
    ok = subprocess_executor(["python3", "main.py"], {"main.py": "print(open('d/x.txt').read())", "d/x.txt": "hi"},
                             timeout_s=20)
    assert ok.ok and ok.stdout.strip() == "hi"
    started = time.monotonic()
    slow = subprocess_executor(["python3", "-c", "import os, time; os.fork(); time.sleep(30)"], {}, timeout_s=1)
    assert slow.timed_out and slow.exit_code is None and not slow.ok
    assert time.monotonic() - started < 10
    missing = subprocess_executor(["no-such-binary-ttc"], {}, timeout_s=5)
    assert missing.error and "no-such-binary-ttc" in missing.error


def test_unit_tests_pass_fail_crash_and_timeout():
    contents = [GOOD, BAD, "def add(a, b) return", "import time\ntime.sleep(30)\n"]
    verdicts = UnitTestVerifier(subprocess_executor, timeout_s=4).verify(ADD_TASK, cands(ADD_TASK, contents))
    assert [v.passed for v in verdicts] == [True, False, False, False]
    assert [v.score for v in verdicts] == [1.0, 0.0, 0.0, 0.0]
    assert verdicts[1].details["failure"].startswith("AssertionError")
    assert "importing the solution failed: SyntaxError" in verdicts[2].details["failure"]
    assert "did not answer in time" in verdicts[3].details["failure"] and verdicts[3].error is None
    assert all(v.verifier == "unit_tests" and v.task_id == "add" for v in verdicts)


def test_unit_tests_judge_each_distinct_program_once_and_keep_order():
    execute = CountingExecutor()
    cs = cands(ADD_TASK, [BAD, GOOD, GOOD + "\n# same program\n", BAD, GOOD])
    verdicts = UnitTestVerifier(execute).verify(ADD_TASK, cs)
    assert execute.calls == 2
    assert [v.candidate_key for v in verdicts] == [c.key for c in cs]
    assert [v.passed for v in verdicts] == [False, True, True, False, True]


def test_humaneval_format_composes_check_call():
    verdicts = UnitTestVerifier(subprocess_executor).verify(HUMANEVAL_TASK, cands(HUMANEVAL_TASK, [GOOD, BAD]))
    assert [v.passed for v in verdicts] == [True, False]
    no_entry = HUMANEVAL_TASK.model_copy(update={"entry_point": None})
    [verdict] = UnitTestVerifier(subprocess_executor).verify(no_entry, cands(no_entry, [GOOD]))
    assert not verdict.passed and "entry_point" in verdict.error


def test_task_files_reach_the_workspace():
    task = ADD_TASK.model_copy(update={"files": {"data/cases.txt": "2 3 5\n"},
                                       "tests": "from solution import add\n"
                                                "a, b, s = map(int, open('data/cases.txt').read().split())\n"
                                                "assert add(a, b) == s\n"})
    verdicts = UnitTestVerifier(subprocess_executor).verify(task, cands(task, [GOOD, BAD]))
    assert [v.passed for v in verdicts] == [True, False]


def test_infrastructure_failures_are_errors_not_passes():
    def broken_sandbox(cmd, files, timeout_s, peer=None):
        return ExecutionResult(error="no sandbox container available: engine down")

    def dead_actor(cmd, files, timeout_s, peer=None):
        raise ConnectionError("actor died")

    [verdict] = UnitTestVerifier(broken_sandbox).verify(ADD_TASK, cands(ADD_TASK, [GOOD]))
    assert not verdict.passed and verdict.error.startswith("no sandbox container")
    [verdict] = UnitTestVerifier(dead_actor).verify(ADD_TASK, cands(ADD_TASK, [GOOD]))
    assert not verdict.passed and "ConnectionError: actor died" in verdict.error
    no_tests = ADD_TASK.model_copy(update={"tests": None})
    [verdict] = UnitTestVerifier(subprocess_executor).verify(no_tests, cands(no_tests, [GOOD]))
    assert not verdict.passed and "no tests" in verdict.error


def test_stderr_tail_keeps_the_last_2kb():
    tail = stderr_tail("x" * 5000 + "Traceback: the end")
    assert len(tail.encode()) <= 2048 and tail.endswith("the end")


def test_the_harness_fingerprints_behaviour_in_the_verdicts_own_execution():
    task = ADD_TASK.model_copy(update={"metadata": {"probe_inputs": ["(1, 2)", "(5, -5)", "(0.5, {1, 2})"]}})
    same = ["def add(a, b):\n    return a + b\n", "def add(x, y):\n    return y + x  # reordered\n"]
    other = "def add(a, b):\n    return a - b\n"
    execute = CountingExecutor()
    verdicts = UnitTestVerifier(execute, fingerprint=True).verify(task, cands(task, [*same, other, "def add(:"]))
    prints = [v.details["fingerprint"] for v in verdicts]
    assert execute.calls == 4  # one execution each: tests and probes together
    assert prints[0] == prints[1] != prints[2] and prints[3] == f"failed:{verdicts[3].candidate_key}"
    assert [v.passed for v in verdicts] == [True, True, False, False]  # a failing program has a fingerprint too
    plain = UnitTestVerifier(subprocess_executor).verify(task, cands(task, same[:1]))[0]
    assert plain.details["fingerprint"] is None  # probes only when asked


def test_program_outputs_fingerprint_behaviour_not_text():
    programs = [GOOD, "def add(a, b):\n    return b + a\n", BAD, "def add(a, b):\n    raise ValueError\n",
                "import sys\nsys.exit(3)\n", "import sys\nsys.exit(4)\n"]
    cs = cands(ADD_TASK, programs)
    fp = program_outputs(cs, ["(1, 2)", "(5, -5)", "7, 0.5"], "add", subprocess_executor)
    assert fp[cs[0].key] == fp[cs[1].key] != fp[cs[2].key]
    assert fp[cs[3].key] not in {fp[cs[0].key], fp[cs[2].key]}
    assert fp[cs[4].key] != fp[cs[5].key]  # failed runs never pool together
    with pytest.raises(ValueError):
        program_outputs(cs, ["(1, undefined_name)"], "add", subprocess_executor)


# --- the Docker sandbox ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_run():
    sandbox = pytest.importorskip("sandbox", reason="sandbox package not importable")
    if not hasattr(sandbox, "SandboxPool"):
        pytest.skip("sandbox has no SandboxPool yet")
    try:
        pool = sandbox.SandboxPool(size=2)
    except Exception as exc:  # no engine or no image here: report why, as a skip
        pytest.skip(f"Docker sandbox unavailable: {type(exc).__name__}: {exc}")
    yield pool.run
    pool.close()


@pytest.mark.docker
def test_unit_tests_in_the_docker_sandbox(sandbox_run):
    verifier = UnitTestVerifier(sandbox_run, timeout_s=5)
    verdicts = verifier.verify(ADD_TASK, cands(ADD_TASK, [GOOD, BAD, "import time\ntime.sleep(60)\n"]))
    assert [v.passed for v in verdicts] == [True, False, False]
    assert verdicts[2].details["timed_out"]
    assert [v.passed for v in verifier.verify(HUMANEVAL_TASK, cands(HUMANEVAL_TASK, [GOOD, BAD]))] == [True, False]
    cs = cands(ADD_TASK, [GOOD, "def add(a, b):\n    return b + a\n"])
    fp = program_outputs(cs, ["(1, 2)", "(3, 4)"], "add", sandbox_run)
    assert fp[cs[0].key] == fp[cs[1].key] and not fp[cs[0].key].startswith("failed")


# --- exact answer ----------------------------------------------------------------------------


def test_exact_answer_matches_normalised_answers():
    task = Task(id="m1", kind="math", prompt="What is 1/2?", answer="\\frac{1}{2}")
    verdicts = ExactAnswerVerifier().verify(task, cands(task, ["0.5", "\\boxed{1/2}", "2", "-0.5", "half"]))
    assert [v.passed for v in verdicts] == [True, True, False, False, False]
    assert verdicts[0].details == {"normalised": "1/2", "reference": "1/2"}
    [missing] = ExactAnswerVerifier().verify(task.model_copy(update={"answer": None}), cands(task, ["1"]))
    assert not missing.passed and "no reference answer" in missing.error


# --- tiny real transformers models -------------------------------------------------------------

WORDS = "def add a b return + - yes no is the solution correct answer problem proposed one word or with".split()


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[EOS]", *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")


@pytest.fixture(scope="module")
def reward_model_dir(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-rm")
    tokenizer = tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, num_labels=2, pad_token_id=0)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_reward_model_scores_are_probabilities_independent_of_batching(reward_model_dir):
    contents = ["def add a b return a + b", "return a - b", "no", "def add a b return a + b", "yes yes yes yes"]
    cs = cands(ADD_TASK, contents)
    batched = RewardModelVerifier(reward_model_dir, batch_size=16, device="cpu").verify(ADD_TASK, cs)
    single = RewardModelVerifier(reward_model_dir, batch_size=1, device="cpu").verify(ADD_TASK, cs)
    scores = [v.score for v in batched]
    assert all(0.0 < s < 1.0 for s in scores)
    assert scores == pytest.approx([v.score for v in single], abs=1e-5)  # padding must not change a score
    assert scores[0] == scores[3] and len(set(scores)) == 4
    threshold = sorted(scores)[2]
    strict = RewardModelVerifier(reward_model_dir, threshold=threshold, device="cpu").verify(ADD_TASK, cs)
    assert [v.passed for v in strict] == [s >= threshold for s in scores]


class ScriptedJudge:
    """A Generator that answers from a script (to pin the parsing; the real model is below)."""

    def __init__(self, answers):
        self.answers, self.prompts = answers, []

    def generate(self, prompts, params):
        self.prompts += prompts
        return [[type("C", (), {"text": self.answers[len(self.prompts) - len(prompts) + i]})()
                 for _ in range(params.n)] for i in range(len(prompts))]


def test_llm_judge_parses_yes_no_and_reports_unparsable_answers_as_errors():
    judge = ScriptedJudge([" Yes, it is.", " no", " maybe?"])
    verdicts = LLMJudgeVerifier(judge).verify(ADD_TASK, cands(ADD_TASK, [GOOD, BAD, "x = 1", GOOD]))
    assert [v.passed for v in verdicts] == [True, False, False, True]
    assert [v.score for v in verdicts] == [1.0, 0.0, 0.0, 1.0]
    assert verdicts[2].error and "no yes/no" in verdicts[2].error
    assert len(judge.prompts) == 3 and GOOD in judge.prompts[0] and ADD_TASK.prompt in judge.prompts[0]
    assert parse_judgement("Nope. No.") == 0.0 and parse_judgement("yesterday") is None


def test_llm_judge_with_a_tiny_real_model(tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = pytest.importorskip("pipeline.generators.hf", reason="the hf generator backend is not there yet")
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with hf.HFGenerator(str(tmp_path), device="cpu") as generator:
        verifier = LLMJudgeVerifier(generator, samples=3,
                                    params=SamplingParams(n=3, temperature=1.0, max_new_tokens=4, seed=0))
        verdicts = verifier.verify(ADD_TASK, cands(ADD_TASK, [GOOD, BAD, GOOD]))
    assert [v.candidate_key for v in verdicts] == [c.key for c in cands(ADD_TASK, [GOOD, BAD, GOOD])]
    for verdict in verdicts:
        assert len(verdict.details["judgements"]) == 3
        assert 0.0 <= verdict.score <= 1.0
        assert verdict.passed == (verdict.error is None and verdict.score >= 0.5)


# --- registry ----------------------------------------------------------------------------------


def test_make_verifier_builds_by_name_and_names_what_is_valid():
    assert {"unit_tests", "visible_tests", "exact_answer", "reward_model", "llm_judge"} <= set(VERIFIERS)
    assert isinstance(make_verifier("unit_tests", execute=subprocess_executor), UnitTestVerifier)
    assert make_verifier("exact_answer").name == "exact_answer"
    with pytest.raises(UnknownNameError, match="exact_answer"):
        make_verifier("oracle")
    with pytest.raises(TypeError, match="execute"):
        make_verifier("unit_tests", executor=subprocess_executor)


def test_visible_tests_verifier_passes_an_example_overfitter_that_unit_tests_reject():
    """The imperfect verifier of Inference Scaling fLaws: a program that hard-codes the shown
    examples passes the visible tests and fails the hidden ones."""
    task = Task(id="t", prompt="def f(x):\n", entry_point="f",
                tests="from solution import f\nassert f(1) == 2\nassert f(5) == 6\n",
                metadata={"visible_tests": "from solution import f\nassert f(1) == 2\n"})
    overfit = Candidate(task_id="t", sample_index=0, content="def f(x):\n    return 2\n")
    visible = make_verifier("visible_tests", execute=subprocess_executor)
    hidden = make_verifier("unit_tests", execute=subprocess_executor)
    assert visible.verify(task, [overfit])[0].passed
    assert not hidden.verify(task, [overfit])[0].passed
    assert visible.verify(task.model_copy(update={"metadata": {}}), [overfit])[0].error


def test_a_candidate_that_exits_zero_early_does_not_pass():
    task = Task(id="t", prompt="def f(x):\n", entry_point="f",
                tests="from solution import f\nassert f(1) == 2\n")
    cheat = Candidate(task_id="t", sample_index=0, content="import os\nos._exit(0)\ndef f(x):\n    return 0\n")
    honest = Candidate(task_id="t", sample_index=1, content="def f(x):\n    return x + 1\n")
    cheat_verdict, honest_verdict = make_verifier("unit_tests", execute=subprocess_executor).verify(task, [cheat, honest])
    assert cheat_verdict.details["exit_code"] == 0 and not cheat_verdict.passed
    assert honest_verdict.passed
