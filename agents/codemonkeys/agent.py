"""CodeMonkeys on a repository task: context -> testing -> P parallel editing trajectories of
up to T turns each -> selection by model-written tests and a selection trajectory.

`run` returns one Trajectory per editing trajectory (at least params.n of them are run), ordered
by the selection: sample `start_index` is the selected patch, then the vote's order, then the
trajectories without a patch. The testing and selection steps are logged in the first one's
`steps`; each trajectory's final entry (`kind: "result"`) holds its unified diff.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from agents.base import Generate, Tools
from agents.codemonkeys.context import Window, model_rerank, rank_windows, select_files
from agents.codemonkeys.editing import best_attempt, editing_trajectory, try_edit
from agents.codemonkeys.prompts import fit_edit_prompt
from agents.codemonkeys.selection import Scored, selection_trajectory, vote
from agents.codemonkeys.testing import regression_suite, testing_trajectory
from agents.options import PROCESSOR_BACKENDS, StrategyOptions, option
from pipeline.core.types import Candidate, Completion, SamplingParams, Task, Trajectory


class CodeMonkeysOptions(StrategyOptions):
    """See CodeMonkeys. `model_path` is not an option: the runner fills it in with the run's model."""

    task_kinds = ("repo",)
    sends_prompt = False  # its prompts are built from the repository, cut to prompt_chars

    parallel: int = option(4, "editing trajectories (P)", cap="max_parallel", ge=1, le=1024)
    turns: int = option(2, "serial turns per trajectory (T)", cap="max_turns", ge=1, le=64)
    test_attempts: int = option(2, "reproduction tests asked for", ge=0, le=32)
    top_k: int = option(3, "candidates the selection trajectory compares", ge=0, le=64)
    context_chars: int = option(60_000, "budget of the selected files", ge=1, le=10_000_000)
    window_lines: int = option(10, "lines of a file shown per edit prompt", ge=1, le=10_000)
    model_rerank: int = option(0, "first windows the generator reranks", ge=0, le=64)
    prompt_chars: int = option(850, "the longest prompt sent", ge=64, le=1_000_000)
    constrained: bool = option(False, "decode edits as a choice among single-token edits")
    regression: bool = option(True, "check edits with the repository's passing test files")

    def needed_backends(self) -> tuple[str, ...]:
        return PROCESSOR_BACKENDS if self.constrained else self.backends

    def worst_case_tokens(self, n: int, max_new_tokens: int, chunk_size: int | None = None) -> int:
        """Per chunk: max(parallel, chunk) trajectories of `turns` generations, plus the testing,
        reranking and selection generations."""
        size = min(chunk_size or n, n)
        chunks = [size] * (n // size) + ([n % size] if n % size else [])
        generations = sum(max(self.parallel, c) * self.turns + self.test_attempts + self.model_rerank + 1
                          for c in chunks)
        return generations * max_new_tokens


class CodeMonkeys:
    """parallel: editing trajectories (P); turns: serial turns per trajectory (T);
    test_attempts: reproduction tests the model is asked for; top_k: candidates the selection
    trajectory compares; context_chars: budget of the selected files; window_lines: lines of a
    file shown per edit prompt; model_rerank: let the generator rerank the first windows;
    prompt_chars: the longest prompt sent (the default fits tiny-fixer's 512-token context;
    raise it for a bigger model); constrained: decode edits as a choice among single-token edits
    of the shown lines (constrain.py; for tiny models, needs `model_path`, which the runner
    fills in with the run's model); regression: the repository's visible test files that pass on
    the buggy repository check each edit when no reproduction test was kept, and the vote counts
    how many still pass."""

    name = "codemonkeys"
    Options = CodeMonkeysOptions

    def __init__(self, parallel: int = 4, turns: int = 2, test_attempts: int = 2, top_k: int = 3,
                 context_chars: int = 60_000, window_lines: int = 10, model_rerank: int = 0,
                 prompt_chars: int = 850, constrained: bool = False, model_path: str | None = None,
                 regression: bool = True):
        if parallel < 1 or turns < 1:
            raise ValueError(f"parallel and turns must be >= 1, got parallel={parallel}, turns={turns}")
        self.parallel, self.turns, self.test_attempts, self.top_k = parallel, turns, test_attempts, top_k
        self.context_chars, self.window_lines, self.model_rerank = context_chars, window_lines, model_rerank
        self.prompt_chars, self.regression = prompt_chars, regression
        if constrained and not model_path:
            raise ValueError("constrained=True needs model_path (the generator's model folder, for its tokenizer)")
        self.choices_model = str(model_path) if constrained else None

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        if tools is None or tools.execute is None:
            raise ValueError("codemonkeys needs tools.execute (a sandbox) to run reproduction tests")
        if task.kind != "repo" or not task.files:
            raise ValueError(f"codemonkeys needs a repo task with files, got kind={task.kind!r} for {task.id!r}")
        started, seed = time.perf_counter(), params.seed or 0
        shared_steps: list[dict] = []
        windows = self.context(task, generate, params, shared_steps)
        tests = testing_trajectory(task, generate, params, tools.execute, self.test_attempts, seed, shared_steps,
                                   self.prompt_chars)
        suite = regression_suite(task, tools.execute, shared_steps) if self.regression else {}
        count = max(self.parallel, params.n)
        runs = self.edit_all(task, generate, params, tools.execute, windows, tests or suite, count, seed)
        patches = [(a.diff, a.changed) if a else ("", {}) for a in (best_attempt(r[0]) for r in runs)]
        ranked = vote(task, tools.execute, patches, tests, regression=suite)
        pick = selection_trajectory(task, generate, params, ranked[:self.top_k], seed, shared_steps, self.prompt_chars)
        order = rank_trajectories(patches, ranked, pick)
        seconds = (time.perf_counter() - started) / count
        out = []
        for rank, i in enumerate(order[:params.n]):
            steps = (shared_steps if rank == 0 else []) + runs[i][1]
            out.append(self.trajectory(task, start_index + rank, runs[i][0], steps, patches[i][0], seed + i, seconds))
        return out

    def context(self, task: Task, generate, params, steps: list[dict]):
        paths = select_files(task.prompt, task.files, self.context_chars)
        windows = rank_windows(task.prompt, task.files, paths, self.window_lines, self.window_lines // 2)
        if not windows:
            raise ValueError(f"task {task.id!r} has no Python source file to edit")
        if self.model_rerank:
            head = model_rerank(windows[:self.model_rerank],
                                lambda w: edit_confidence(task, generate, params, w, self.prompt_chars))
            windows = head + windows[self.model_rerank:]
        steps.append({"kind": "context", "files": paths[:20], "windows": [f"{w.path}:{w.start + 1}" for w in windows[:8]]})
        return windows

    def edit_all(self, task, generate, params, execute, windows, tests, count: int, seed: int):
        """`count` editing trajectories, concurrently (the generator batches their requests)."""
        def one(index: int):
            steps: list[dict] = []
            attempts = editing_trajectory(task, generate, params, execute, windows, tests, index,
                                          self.turns, seed + index, steps, self.prompt_chars, self.choices_model)
            return attempts, steps

        with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
            return list(pool.map(one, range(count)))

    def trajectory(self, task, index, attempts, steps, diff, seed, seconds) -> Trajectory:
        best = best_attempt(attempts)
        text = best.answer if best else (attempts[-1].answer if attempts else "")
        tokens = sum(a.tokens for a in attempts)
        completion = Completion(text=text, completion_tokens=tokens, finish_reason="stop")
        result = {"kind": "result", "diff": diff, "turns": len(attempts),
                  "tests_passed": best.tests_passed if best else 0}
        return Trajectory(task_id=task.id, sample_index=index, completion=completion, seed=seed,
                          generation_s=seconds, steps=[*steps, result])

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        results = [s for s in trajectory.steps if s.get("kind") == "result"]
        diff = results[-1]["diff"] if results else ""
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index, content=diff)


def rank_trajectories(patches: list[tuple[str, dict]], ranked: list[Scored], pick: Scored | None) -> list[int]:
    """Trajectory indices: the pick's first, then by the vote's order of their patch, then none."""
    order = ([pick.diff] if pick else []) + [s.diff for s in ranked if not pick or s.diff != pick.diff]
    position = {diff: i for i, diff in enumerate(order)}
    return sorted(range(len(patches)), key=lambda i: (position.get(patches[i][0], len(order)), i))


def edit_confidence(task: Task, generate, params: SamplingParams, window: Window, prompt_chars: int = 10_000) -> float:
    """Mean token logprob of the model's greedy edit for `window`; -inf if it does not apply."""
    prompt, shown = fit_edit_prompt(task.prompt, window.path, window.start, window.text, None, prompt_chars)
    window = Window(window.path, window.start, shown)
    one = params.model_copy(update={"n": 1, "temperature": 0.0, "logprobs": True, "stop": ["\n### "]})
    completion = generate([prompt], one)[0][0]
    try:
        try_edit(task, window, completion.text)
    except ValueError:
        return float("-inf")
    return completion.cumulative_logprob / max(completion.completion_tokens, 1)
