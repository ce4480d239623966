"""Symbolic canonical form of a short LaTeX answer, so 2\\sqrt{2} == \\sqrt{8} == \\sqrt8*1.

Only a whitelist of tokens (numbers, one-letter variables, sqrt, pi, infinity, factorials,
+ - * / ^ and parentheses) is ever handed to sympy's parser, which evaluates its input: model
output is untrusted. Large numeric powers and factorials are refused before evaluation
(10^10^10 or 10^6! would never finish).
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MAX_CHARS = 60
MAX_NUMERIC_EXPONENT = 4096
MAX_EXPANDED_EXPONENT = 16
MAX_FACTORIAL = 10_000  # 10000! has 35660 digits and takes milliseconds; 10^6! takes minutes
_MACROS = {"\\pi": " pi ", "\\infty": " oo ", "\\cdot": "*", "\\times": "*"}
_SAFE = re.compile(r"(?:\d+(?:\.\d+)?|sqrt|pi|oo|factorial|[a-zA-Z]|[-+*/()^ ])+")
_KNOWN_NAMES = re.compile(r"sqrt|pi|oo|factorial")


def to_sympy_text(latex: str) -> str | None:
    """`\\sqrt{6}/4` -> `sqrt(6)/4`; None when anything outside the whitelist remains."""
    text = latex.replace("\\sqrt", "sqrt")
    for macro, plain in _MACROS.items():
        text = text.replace(macro, plain)
    text = _factorials_to_calls(text.replace("{", "(").replace("}", ")"))
    if text is None or "\\" in text or not _SAFE.fullmatch(text) or re.search(r"[a-zA-Z]{2,}", _KNOWN_NAMES.sub("", text)):
        return None
    return text.replace("^", "**")


def _factorials_to_calls(text: str) -> str | None:
    """`5!` -> `factorial(5)`, `(n+1)!` -> `factorial((n+1))`; None for `n!!` (double factorial),
    a factorial of something else, or a literal argument above MAX_FACTORIAL. sympy computes
    a factorial of an integer literal while parsing, so the bound is checked here, on the text."""
    while "!" in text:
        bang = text.index("!")
        start = _operand_start(text, bang)
        if start is None or text[bang + 1 : bang + 2] == "!":
            return None
        argument = text[start:bang]
        if argument.isdigit() and int(argument) > MAX_FACTORIAL:
            return None
        text = f"{text[:start]}factorial({argument}){text[bang + 1:]}"
    return text


def _operand_start(text: str, end: int) -> int | None:
    """Where the operand ending just before `end` starts: a run of digits or a (...) group."""
    if end > 0 and text[end - 1].isdigit():
        start = end
        while start > 0 and text[start - 1].isdigit():
            start -= 1
        return start
    if end > 0 and text[end - 1] == ")":
        depth = 0
        for i in range(end - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[i], 0)
            if depth == 0:
                return i
    return None


_EXPONENT = re.compile(r"\^\s*(\{|\d+)")
_BIG_FACTORIAL = re.compile(r"(\d+)\s*!")


def too_heavy(latex: str) -> bool:
    """Whether an answer holds a number too big to compute (9^{9^9}, 10^{99999}, 20000!, (3^{10})!),
    judged on the text before any parser evaluates it. Symbolic exponents (10^{2^n}) are fine."""
    for exponent in _exponents(latex):
        if not re.search(r"[A-Za-z]", re.sub(r"\\(?:cdot|times|left|right)", "", exponent)):
            value = _small_integer(exponent)
            if value is None or abs(value) > MAX_NUMERIC_EXPONENT:
                return True
    return any(int(n) > MAX_FACTORIAL for n in _BIG_FACTORIAL.findall(latex)) or bool(re.search(r"[}^]\s*\)?\s*!", latex))


def _exponents(latex: str) -> list[str]:
    """The text of each exponent: `^{...}` groups (braces balanced) and `^123`."""
    found = []
    for match in _EXPONENT.finditer(latex):
        if match.group(1) != "{":
            found.append(match.group(1))
            continue
        depth = 0
        for end in range(match.start(1), len(latex)):
            depth += {"{": 1, "}": -1}.get(latex[end], 0)
            if depth == 0:
                found.append(latex[match.start(1) + 1 : end])
                break
    return found


def _small_integer(exponent: str) -> int | None:
    """The exponent's value when it is a number we can afford (a rational exponent counts by its size)."""
    if re.fullmatch(r"[+-]?\d+", exponent.strip()):
        return int(exponent)
    canonical = symbolic_canonical(exponent)
    if canonical is None:
        return None
    try:
        from fractions import Fraction

        return int(Fraction(canonical))
    except (ValueError, ZeroDivisionError):
        return None


def _huge_power(power, limit: int) -> bool:
    """A power whose exponent is a number (after floating-point evaluation, which stays fast
    for towers) beyond `limit`: exact evaluation or expansion could take forever."""
    if power.exp.free_symbols:
        return False  # stays symbolic
    exponent = power.exp.evalf(15)
    return not exponent.is_finite or abs(exponent) > limit


def _huge_factorial(expr) -> bool:
    """A factorial left unevaluated by the parser, e.g. (2000*2000)!, whose argument is too big."""
    import sympy

    for call in expr.atoms(sympy.factorial):
        argument = call.args[0]
        if not argument.free_symbols and abs(argument.evalf(15)) > MAX_FACTORIAL:
            return True
    return False


def _canonical_text(expr) -> str:
    """str(expr), with integers beyond Python's 4300-digit str limit (1/2004!) named by a digest."""
    import sympy

    try:
        return str(expr)
    except ValueError:
        big = {n: sympy.Symbol(f"big{_digest(n)}") for n in expr.atoms(sympy.Rational)}
        return str(expr.xreplace(big))


def _digest(number) -> str:
    parts = (number.p, number.q)
    data = b"/".join(n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True) for n in parts)
    return hashlib.sha256(data).hexdigest()[:24]


@lru_cache(maxsize=4096)
def symbolic_canonical(latex: str) -> str | None:
    """A canonical string for the expression, or None when it is not a safe short expression."""
    if len(latex) > MAX_CHARS:
        return None
    text = to_sympy_text(latex)
    if text is None:
        return None
    import sympy
    from sympy.parsing.sympy_parser import (implicit_multiplication_application, parse_expr,
                                            standard_transformations)

    transformations = standard_transformations + (implicit_multiplication_application,)
    try:
        expr = parse_expr(text, transformations=transformations, evaluate=False)
        powers = expr.atoms(sympy.Pow)
        if any(_huge_power(p, MAX_NUMERIC_EXPONENT) for p in powers) or _huge_factorial(expr):
            return None
        simplified = sympy.simplify(expr)
        if not any(_huge_power(p, MAX_EXPANDED_EXPONENT) for p in powers):
            simplified = sympy.expand(simplified)  # (x+1)^2 and x^2+2x+1 meet here
        return _canonical_text(simplified)
    except Exception:  # noqa: BLE001 - sympy raises many kinds on odd input: then it is not an expression
        return None
