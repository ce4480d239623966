"""Chat prompts shared by the math task sources (for instruct models; see generators/chat.py)."""
from __future__ import annotations

BOXED_INSTRUCTION = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."


def boxed_answer_chat(question: str) -> list[dict[str, str]]:
    """The usual math instruction for chat models; extract_answer reads the last \\boxed{}."""
    return [{"role": "user", "content": BOXED_INSTRUCTION.format(question=question)}]
