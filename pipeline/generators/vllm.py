"""vLLM backend (optional extra `ttc[vllm]`): vLLM is imported only when this backend is built."""
from __future__ import annotations

from typing import Any

from pipeline.generators.chat import Prompt, check_messages, render_chat
from pipeline.core.types import Completion, SamplingParams


class VLLMNotInstalledError(ImportError):
    """The vllm backend was chosen but the vllm package is missing."""


class VLLMGenerator:
    def __init__(self, model_path: str, **engine_options: Any):
        try:
            import vllm
        except ImportError as error:
            raise VLLMNotInstalledError(
                "vLLM is not installed: pip install 'ttc[vllm]' (or choose backend 'hf', or "
                "'openai_compat' against a running vLLM server)") from error
        self._vllm = vllm
        self.llm = vllm.LLM(model=model_path, **engine_options)

    def generate(self, prompts: list[Prompt], params: SamplingParams,
                 logits_processors: list | None = None) -> list[list[Completion]]:
        if logits_processors:
            raise ValueError("logits processors run inside the decode loop; the vllm backend cannot take them "
                             "(use the `hf` backend for this strategy)")
        texts = [p if isinstance(p, str) else render_chat(self.llm.get_tokenizer(), check_messages(p)) for p in prompts]
        outputs = self.llm.generate(texts, self._sampling_params(params), use_tqdm=False)
        return [[_completion(sample, output, params.logprobs) for sample in output.outputs] for output in outputs]

    def _sampling_params(self, params: SamplingParams) -> Any:
        options: dict[str, Any] = dict(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                       max_tokens=params.max_new_tokens, stop=params.stop or None,
                                       seed=params.seed, logprobs=0)  # 0: the sampled token's logprob only
        if params.top_k:
            options["top_k"] = params.top_k
        return self._vllm.SamplingParams(**options)


def _completion(sample: Any, output: Any, want_logprobs: bool) -> Completion:
    token_logprobs = [step[token].logprob for step, token in zip(sample.logprobs or [], sample.token_ids)]
    finish = sample.finish_reason if sample.finish_reason == "length" else "stop"
    if finish == "stop" and sample.stop_reason is None:  # vLLM: no stop string/token matched -> EOS
        finish = "eos"
    return Completion(
        text=sample.text, token_ids=list(sample.token_ids), cumulative_logprob=sample.cumulative_logprob or 0.0,
        token_logprobs=token_logprobs if want_logprobs else None, finish_reason=finish,
        prompt_tokens=len(output.prompt_token_ids or []), completion_tokens=len(sample.token_ids))
