"""Chat prompts: a prompt may be a list of messages instead of a string.

Instruct models answer best inside their own chat template. A final `assistant` message is a
prefill: the model continues it (e.g. "```python\\n<signature>" so the completion is the
function body, as HumanEval grading expects).
"""
from __future__ import annotations

from typing import Any

Messages = list[dict[str, str]]
Prompt = str | Messages


def render_chat(tokenizer: Any, messages: Messages) -> str:
    """The model's chat template if it has one, else plain `role: content` lines."""
    prefill = messages[-1]["role"] == "assistant"
    if getattr(tokenizer, "chat_template", None):
        if prefill:
            return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    turns = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
    return turns[:-1] if prefill else turns + "assistant: "


def check_messages(prompt: Any) -> Messages:
    """A message list with role/content strings, or ValueError naming what is wrong."""
    if not isinstance(prompt, list) or not prompt:
        raise ValueError(f"a chat prompt is a non-empty list of messages, got {type(prompt).__name__}")
    for i, message in enumerate(prompt):
        if not isinstance(message, dict) or not {"role", "content"} <= set(message):
            raise ValueError(f"chat message {i} needs 'role' and 'content', got {message!r:.80}")
        if message["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"chat message {i} has role {message['role']!r}; allowed: system, user, assistant")
    return prompt
