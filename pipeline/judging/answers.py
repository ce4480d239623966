"""Final-answer extraction, normalisation and checking for math/text tasks.

`normalise_answer` maps equal answers to one string (for votes): numbers become an exact
fraction ("1,000" == "1000" == "1000.0", "\\frac{1}{2}" == "1/2" == "0.5"), other strings lose
LaTeX wrappers, spaces and case. Exact arithmetic (Fraction) so "0.1 + 0.2" style float noise
can never make two different answers equal.

`judge_answer` / `answers_match` decide whether a candidate answer equals the reference: ttc's
normaliser and structural rules first, then math-verify for what they cannot read, each check
in a worker process under a time limit (pipeline.judging.answer_judge, answer_pool).
Conventions of a match:
- Exact values: a decimal is the number it spells, no rounding tolerance ("0.5" == "\\frac12",
  "0.333" != "\\frac13", "1.414" != "\\sqrt2").
- Thousands separators in groups of three: "1,000" == "1{,}000" == "1\\,000" == "1000";
  "1,000" != "1.000".
- Units are dropped when both sides carry the same one or one side has none ("12 cm^2" ==
  "12" == "12\\text{ cm}^2"); two different units never match ("12 cm" != "12 m": no conversion).
  Degrees and dollars are units: "45°" == "45^\\circ" == "45" (no radian conversion), "\\$18.90" == "18.90".
- Percent is a unit with a value: "50\\%" == "50" (the number asked for) and "50\\%" == "0.5"
  (the quantity it names); two plain numbers stay exact ("50" != "0.5").
- A multiple-choice letter A-E, however wrapped, is case-free: "B" == "(b)" == "\\text{(B)}".
- Sets, unions and bare comma lists are order-free ("\\{1,2\\}" == "2, 1"); tuples and
  intervals keep their order and brackets ("(1,2)" != "(2,1)" != "[1,2]").
- Factorials are values: "5!" == "120", "\\frac{1}{2004!}" == "1/2004!", "5!" != "5".
"""
from __future__ import annotations

import re
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from pipeline.judging.answer_forms import brace_group as _brace_group
from pipeline.judging.answer_forms import QUALIFIERS, expand_shorthand, last_boxed

# A check takes ~10 ms on average, p95 ~50 ms, the slowest legitimate ones ~1 s on an idle core
# (benchmarks/results/math_answers.jsonl); 10 s leaves room for a loaded machine, and a timeout
# is an error verdict, so a hostile answer costs at most this much of one worker.
DEFAULT_TIMEOUT_S = 10.0
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_SINGLE_TOKEN_SCRIPT = re.compile(r"([\^_])\{(\w)\}")
_TRAILING_UNIT = re.compile(rf"^([+-]?[\d.,]+(?:/\d+)?)\s+{QUALIFIERS}[A-Za-z]{{2,}}(?:\s+[A-Za-z]+)*\.?$", re.IGNORECASE)
_ATOM_SEPARATORS = re.compile(r"(\\cup|[\[\](),])")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_LATEX_NOISE = ("\\$", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "^\\circ", "^{\\circ}", "\\%", "%", "$")
_ANSWER_IS = re.compile(r"answer is[:\s]*([^\n]+?)\s*(?:\.\s|\.?$)", re.IGNORECASE | re.MULTILINE)
_ANSWER_LINE = re.compile(r"^\s*(?:\*\*)?(?:final\s+)?answer\s*:(?:\*\*)?\s*(\S[^\n]*?)\s*\.?$", re.IGNORECASE | re.MULTILINE)
_DISPLAY_MATH = re.compile(r"\\\[(.+?)\\\]|\$\$(.+?)\$\$", re.DOTALL)
_INLINE_MATH = re.compile(r"\$([^$]+)\$|\\\((.+?)\\\)")
_MATH_ONLY_LINE = re.compile(r"[\d\s+\-*/^_=.,()\[\]{}\\!<>|:%°']*|[^\n]*\\[A-Za-z][^\n]*")
_WORD = re.compile(r"(?<!\\)\b[A-Za-z]{3,}\b")
_NUMBER = re.compile(r"-?\\d?frac\{[^{}]*\}\{[^{}]*\}|[+-]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_COMPLETION_HINTS = ("\n", "answer is", "answer:", "####")


class AnswerJudgement(BaseModel):
    """One check's outcome. `error` is set (and `match` False) when the check could not finish."""

    model_config = ConfigDict(frozen=True)
    match: bool
    error: str | None = None
    method: str
    normalised: str | None = None  # normalise_answer of the candidate's final answer (its vote)
    reference_normalised: str | None = None


def extract_answer(text: str) -> str | None:
    """Final answer of a model's solution, LaTeX kept whole: \\boxed{}, then "#### x" (GSM8K),
    then "the answer is x" / "Answer: x", then the last display math \\[...\\] or $$...$$, then
    a final line that is only math, then the last number or \\frac{}{}. None when nothing looks
    like an answer."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    after_hashes = text.rsplit("####", 1)[1].strip() if "####" in text else ""
    if after_hashes:
        return after_hashes.splitlines()[0].strip()
    for said in (_ANSWER_IS.findall(text), _ANSWER_LINE.findall(text)):
        if said:
            return _math_delimited(said[-1].strip())
    last_math = _last_math(text)
    if last_math:
        return last_math
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _math_delimited(said: str) -> str:
    """"$\\frac{3}{4}$ apples" -> "\\frac{3}{4}": the last math span of what follows "answer is"."""
    spans = _INLINE_MATH.findall(said)
    return next(part for part in spans[-1] if part).strip() if spans else said.strip("$ ")


def _last_math(text: str) -> str | None:
    """The final line when it is only math, or ends with inline math ("... is $x$."), unless a
    display \\[...\\] / $$...$$ comes after it; else the last display."""
    displays = list(_DISPLAY_MATH.finditer(text))
    last_display = next(part for part in displays[-1].groups() if part).strip() if displays else None
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or (displays and displays[-1].end() >= len(text.rstrip()) - len(lines[-1])):
        return last_display  # the display is on the last line or after its start
    line = lines[-1].rstrip(".").rstrip()
    inline = list(_INLINE_MATH.finditer(line))
    if inline and inline[-1].end() == len(line):
        return next(part for part in inline[-1].groups() if part).strip()
    if _MATH_ONLY_LINE.fullmatch(line) and not _WORD.search(re.sub(r"\\[A-Za-z]+", "", line)) and re.search(r"\d|\\", line):
        return line
    return last_display


def final_answer(text: str) -> str:
    """The answer part of `text`: its \\boxed{}, the extracted answer of a whole completion, or
    `text` itself when it is already a short answer."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    if any(hint in text.lower() for hint in _COMPLETION_HINTS):
        return extract_answer(text) or ""
    return text.strip()


def normalise_answer(answer: str) -> str:
    """Canonical string: exact fraction "n" or "n/d" for numbers, else a LaTeX-free,
    space-free, lower-cased string."""
    text = _strip_latex(answer)
    if _as_number(text) is None and ("," in text or "\\cup" in text):
        return "".join(_normalise_atom(part) for part in _ATOM_SEPARATORS.split(text))  # intervals, tuples
    return _normalise_atom(text)


def exact_number(answer: str) -> Fraction | None:
    """The exact value of an answer that is a plain number ("1,000", "\\frac{3}{4}", "2.50"), else None."""
    return _as_number(_strip_latex(answer))


def _normalise_atom(text: str) -> str:
    if not text or _ATOM_SEPARATORS.fullmatch(text):
        return text
    number = _as_number(text)
    if number is not None:
        return str(number.numerator) if number.denominator == 1 else f"{number.numerator}/{number.denominator}"
    from pipeline.judging.answer_symbolic import symbolic_canonical

    return symbolic_canonical(text) or text.lower()


def judge_answer(candidate: str | None, reference: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> AnswerJudgement:
    """Whether `candidate` (an answer or a whole completion) equals `reference`, by the
    conventions above; a check past `timeout_s` is an error, never a match. Thread-safe."""
    if candidate is None or reference is None:
        return AnswerJudgement(match=False, method="missing answer")
    from pipeline.judging.answer_pool import shared_pool

    return shared_pool().judge(candidate, reference, timeout_s)


def answers_match(candidate: str | None, reference: str | None) -> bool:
    return judge_answer(candidate, reference).match


def _strip_latex(answer: str) -> str:
    text = answer.strip()
    boxed = last_boxed(text)
    text = boxed if boxed is not None else text
    text = _TEXT.sub(r"\1", expand_shorthand(text))
    for noise in _LATEX_NOISE:
        text = text.replace(noise, "")
    text = _SINGLE_TOKEN_SCRIPT.sub(r"\1\2", text).replace("+\\infty", "\\infty")
    text = _fracs_to_slashes(text)
    text = _TRAILING_UNIT.sub(r"\1", text.strip())  # "204 minutes" -> "204"
    if _THOUSANDS.match(text):  # before spaces go: "1, 234" is a list, "1,234" a number
        text = text.replace(",", "")
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


def _frac_to_slash(num: str, den: str) -> str:
    simple = all(re.fullmatch(r"[+-]?[\w.]+", part) for part in (num, den))
    return f"{num}/{den}" if simple else f"({num})/({den})"


def _drop_variable(text: str) -> str:
    """"x=5" -> "5", "f(x)=2x" -> "2x": a named variable or function on the left is not part of the answer."""
    left, sep, right = text.partition("=")
    return right if sep and re.fullmatch(r"[A-Za-z](?:\([A-Za-z]\))?", left) else text


def _as_number(text: str) -> Fraction | None:
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?(/[+-]?\d+)?", text, re.IGNORECASE):
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
