"""Final-answer extraction and normalisation for math/text tasks.

`normalise_answer` maps equal answers to one string: numbers become an exact fraction
("1,000" == "1000" == "1000.0", "\\frac{1}{2}" == "1/2" == "0.5"), other strings lose LaTeX
wrappers, spaces and case. Exact arithmetic (Fraction) so "0.1 + 0.2" style float noise
can never make two different answers equal.
"""
from __future__ import annotations

import re
from fractions import Fraction

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_FRAC_SHORT = re.compile(r"\\frac(\d)(\d)")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\w)")
_SINGLE_TOKEN_SCRIPT = re.compile(r"([\^_])\{(\w)\}")
_TRAILING_UNIT = re.compile(r"^([+-]?[\d.,]+(?:/\d+)?)\s+[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\.?$")
_ATOM_SEPARATORS = re.compile(r"(\\cup|[\[\](),])")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_LATEX_NOISE = ("\\$", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "^\\circ", "^{\\circ}", "\\%", "%", "$")
_ANSWER_IS = re.compile(r"answer is[:\s]*\$?([^\n$]+?)\$?\s*(?:\.\s|\.?$)", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    return _brace_group(text, text.index("{", start))[0]


def extract_answer(text: str) -> str | None:
    """Final answer of a model's solution: \\boxed{}, then "#### x" (GSM8K), then
    "the answer is x", then the last number. None when nothing looks like an answer."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    after_hashes = text.rsplit("####", 1)[1].strip() if "####" in text else ""
    if after_hashes:
        return after_hashes.splitlines()[0].strip()
    said = _ANSWER_IS.findall(text)
    if said:
        return said[-1].strip()
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def normalise_answer(answer: str) -> str:
    """Canonical string: exact fraction "n" or "n/d" for numbers, else a LaTeX-free,
    space-free, lower-cased string."""
    text = _strip_latex(answer)
    if _as_number(text) is None and ("," in text or "\\cup" in text):
        return "".join(_normalise_atom(part) for part in _ATOM_SEPARATORS.split(text))  # intervals, tuples
    return _normalise_atom(text)


def _normalise_atom(text: str) -> str:
    if not text or _ATOM_SEPARATORS.fullmatch(text):
        return text
    number = _as_number(text)
    if number is not None:
        return str(number.numerator) if number.denominator == 1 else f"{number.numerator}/{number.denominator}"
    from pipeline.judging.answer_symbolic import symbolic_canonical

    return symbolic_canonical(text) or text.lower()


def answers_match(candidate: str | None, reference: str | None) -> bool:
    if candidate is None or reference is None:
        return False
    return normalise_answer(candidate) == normalise_answer(reference)


def _strip_latex(answer: str) -> str:
    text = answer.strip()
    boxed = last_boxed(text)
    text = boxed if boxed is not None else text
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _TEXT.sub(r"\1", text)
    for noise in _LATEX_NOISE:
        text = text.replace(noise, "")
    text = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", text)
    text = _SQRT_SHORT.sub(r"\\sqrt{\1}", text)
    text = _SINGLE_TOKEN_SCRIPT.sub(r"\1\2", text).replace("+\\infty", "\\infty")
    text = _fracs_to_slashes(text)
    text = _TRAILING_UNIT.sub(r"\1", text.strip())  # "204 minutes" -> "204"
    text = "".join(text.split()).rstrip(".")
    return _drop_variable(_strip_outer_parens(text))


def _strip_outer_parens(text: str) -> str:
    """"(1/2)" -> "1/2"; a tuple or interval "(0,2)" keeps its brackets."""
    while text.startswith("(") and text.endswith(")") and "," not in text and _brace_pair_spans(text):
        text = text[1:-1]
    return text


def _brace_pair_spans(text: str) -> bool:
    """Whether the first "(" closes at the very end (not "(a)/(b)")."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return i == len(text) - 1
    return False


def _fracs_to_slashes(text: str) -> str:
    """\\frac{a}{b} -> a/b (or (a)/(b) when a or b is not a plain token); nested braces ok."""
    start = text.find("\\frac{")
    while start >= 0:
        num, after_num = _brace_group(text, start + len("\\frac"))
        den, end = _brace_group(text, after_num) if num is not None else (None, after_num)
        if den is None:
            return text
        text = text[:start] + _frac_to_slash(num, den) + text[end:]
        start = text.find("\\frac{")
    return text


def _brace_group(text: str, at: int) -> tuple[str | None, int]:
    """The {...} group starting at `at` and the index after it; (None, at) if there is none."""
    if at >= len(text) or text[at] != "{":
        return None, at
    depth = 0
    for i in range(at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[at + 1 : i], i + 1
    return None, at


def _frac_to_slash(num: str, den: str) -> str:
    simple = all(re.fullmatch(r"[+-]?[\w.]+", part) for part in (num, den))
    return f"{num}/{den}" if simple else f"({num})/({den})"


def _drop_variable(text: str) -> str:
    """"x=5" -> "5": a one-letter variable on the left is not part of the answer."""
    left, sep, right = text.partition("=")
    return right if sep and re.fullmatch(r"[A-Za-z]", left) else text


def _as_number(text: str) -> Fraction | None:
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?(/[+-]?\d+)?", text, re.IGNORECASE):
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
