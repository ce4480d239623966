"""Measure tiny-coder on the synthetic code test split: pass@1 and pass@k from n samples per task.

    python -m models.eval_coder --model models/tiny-coder --tasks 50 --n 64 --temperature 0.8

Candidates are executed with their hidden tests in a plain subprocess with a timeout (the
Docker sandbox is the pipeline's job; this script only measures the model for its card).
Prints one JSON line per task and a summary line.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from benchmarks.tasks.synthetic_code import STOP_SEQUENCES, candidate_program, make_tasks
from models.sampling import eval_main, pass_at_k, sample

KS = (1, 4, 16, 64)


# Runs each candidate as module `solution` and then the tests, in one child process per task
# (one interpreter start per task, not per candidate: start-up dominated on the shared CPU).
HARNESS = r"""
import json, signal, sys, types
job = json.load(sys.stdin)
def alarm(*_):
    raise TimeoutError("candidate timed out")
signal.signal(signal.SIGALRM, alarm)
results = []
for program in job["programs"]:
    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    try:
        signal.alarm(job["timeout_s"])
        exec(compile(program, "solution.py", "exec"), module.__dict__)
        exec(compile(job["tests"], "test_solution.py", "exec"), {"__name__": "__main__"})
        results.append(True)
    except BaseException:
        results.append(False)
    finally:
        signal.alarm(0)
sys.stdout.write(json.dumps(results))
"""


def passes(program: str, tests: str, timeout_s: float = 5.0) -> bool:
    """Run the hidden tests against one program in a fresh temporary directory, as the verifier does."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "solution.py").write_text(program)
        Path(tmp, "test_solution.py").write_text(tests)
        try:
            done = subprocess.run(["python3", "test_solution.py"], cwd=tmp, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0


def passes_all(programs: list[str], tests: str, timeout_s: int = 2) -> dict[str, bool]:
    """Verdict per distinct program, from one harness process; falls back to one process each."""
    job = json.dumps({"programs": programs, "tests": tests, "timeout_s": timeout_s})
    try:
        done = subprocess.run(["python3", "-c", HARNESS], input=job, capture_output=True, text=True,
                              timeout=30 + timeout_s * len(programs))
        return dict(zip(programs, json.loads(done.stdout)))
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return {program: passes(program, tests) for program in programs}


def evaluate_task(model, tokenizer, task, n: int, temperature: float, seed: int) -> dict:
    texts = sample(model, tokenizer, task.prompt, n, temperature, max_new_tokens=96, seed=seed)
    programs = [candidate_program(task, text) for text in texts]
    greedy = candidate_program(task, sample(model, tokenizer, task.prompt, 1, 0.0, 96, seed)[0])
    verdicts = passes_all(sorted(set(programs) | {greedy}), task.tests)
    correct = sum(verdicts[p] for p in programs)
    return {"task_id": task.id, "family": task.metadata["family"], "hidden_constants": task.metadata["hidden_constants"],
            "n": n, "correct": correct, "distinct_programs": len(set(programs)), "greedy_pass": verdicts[greedy],
            **{f"pass@{k}": pass_at_k(n, correct, k) for k in KS if k <= n}}


def summarise(rows: list[dict], n: int) -> dict:
    mean = lambda key: round(sum(r[key] for r in rows) / len(rows), 4)  # noqa: E731
    return {"tasks": len(rows), "n": n, "greedy_pass@1": mean("greedy_pass"),
            **{f"pass@{k}": mean(f"pass@{k}") for k in KS if k <= n}}


def main(argv: list[str] | None = None) -> None:
    eval_main(argv, __doc__.splitlines()[0], "models/tiny-coder", 50, 64, make_tasks, evaluate_task, summarise,
              extra={"stop": STOP_SEQUENCES})

if __name__ == "__main__":
    main()
