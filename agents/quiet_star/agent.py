"""The quiet_star strategy: repeated sampling where every visible token is preceded by thoughts.

Why through `tools.call_generator`: thoughts need the model's hidden states at every step, so
decoding with thoughts has to run where the model is, in the generator actor. The run's model
is therefore a Quiet-STaR checkpoint served by the `quiet_star` generator backend
(pipeline/generators/quiet_star.py), and this agent asks that backend's
`generate_with_thoughts` for samples with its own thought settings. With any other backend the
call fails naming the backend, instead of silently sampling without thoughts.

Thought tokens are compute, not text: a Completion holds the visible tokens only, its
`completion_tokens` counts visible + thought tokens, and each trajectory's `steps` records the
split.
"""
from __future__ import annotations

import time

from agents.base import Generate, Tools, candidate_content, task_params
from agents.options import StrategyOptions, option
from pipeline.core.types import Candidate, SamplingParams, Task, Trajectory


# a checkpoint's usual thought settings (ThoughtSettings in pipeline/generators/quiet_star_model.py,
# not imported: it needs torch), counted where an option keeps the checkpoint's own
CHECKPOINT_THOUGHTS, CHECKPOINT_THOUGHT_LENGTH = 2, 4


class QuietStarOptions(StrategyOptions):
    backends = ("quiet_star",)  # thoughts need the model's hidden states: decoded in that backend

    n_thoughts: int | None = option(None, "thoughts per position (None: the checkpoint's)",
                                    cap="max_n_thoughts", ge=1, le=64)
    thought_length: int | None = option(None, "tokens per thought (None: the checkpoint's)",
                                        cap="max_thought_length", ge=0, le=1024)

    def worst_case_tokens(self, n: int, max_new_tokens: int, chunk_size: int | None = None) -> int:
        thoughts = self.n_thoughts or CHECKPOINT_THOUGHTS
        length = CHECKPOINT_THOUGHT_LENGTH if self.thought_length is None else self.thought_length
        return n * max_new_tokens * (1 + thoughts * (length + 2))  # each thought adds start/end tokens


class QuietStar:
    name = "quiet_star"
    Options = QuietStarOptions

    def __init__(self, n_thoughts: int | None = None, thought_length: int | None = None):
        """None keeps the checkpoint's own setting (quiet_star.json)."""
        for option, value in (("n_thoughts", n_thoughts), ("thought_length", thought_length)):
            if value is not None and (not isinstance(value, int) or value < (1 if option == "n_thoughts" else 0)):
                raise ValueError(f"strategy_options.{option} must be an integer >= "
                                 f"{1 if option == 'n_thoughts' else 0} or null, got {value!r}")
        self.n_thoughts, self.thought_length = n_thoughts, thought_length

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        if tools is None or tools.call_generator is None:
            raise ValueError("strategy quiet_star decodes inside the generator: it needs tools.call_generator "
                             "and a generator with model.backend: quiet_star")
        started = time.perf_counter()
        completions = tools.call_generator("generate_with_thoughts", [task.prompt], task_params(task, params),
                                           n_thoughts=self.n_thoughts, thought_length=self.thought_length)[0]
        seconds = (time.perf_counter() - started) / max(len(completions), 1)
        return [Trajectory(task_id=task.id, sample_index=start_index + i, completion=c, seed=params.seed,
                           generation_s=seconds, steps=[thought_step(c)])
                for i, c in enumerate(completions)]

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index,
                         content=candidate_content(task, trajectory.completion.text))


def thought_step(completion) -> dict:
    visible = len(completion.token_ids)
    return {"kind": "thoughts", "visible_tokens": visible,
            "thought_tokens": completion.completion_tokens - visible}
