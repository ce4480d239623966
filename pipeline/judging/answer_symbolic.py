"""Symbolic canonical form of a short LaTeX answer, so 2\\sqrt{2} == \\sqrt{8} == \\sqrt8*1.

Only a whitelist of tokens (numbers, one-letter variables, sqrt, pi, infinity, + - * / ^ and
parentheses) is ever handed to sympy's parser, which evaluates its input: model output is
untrusted. Large numeric powers are refused before evaluation (10^10^10 would never finish).
"""
from __future__ import annotations

import re
from functools import lru_cache

MAX_CHARS = 60
MAX_NUMERIC_EXPONENT = 4096
MAX_EXPANDED_EXPONENT = 16
_MACROS = {"\\pi": " pi ", "\\infty": " oo ", "\\cdot": "*", "\\times": "*"}
_SAFE = re.compile(r"(?:\d+(?:\.\d+)?|sqrt|pi|oo|[a-zA-Z]|[-+*/()^ ])+")


def to_sympy_text(latex: str) -> str | None:
    """`\\sqrt{6}/4` -> `sqrt(6)/4`; None when anything outside the whitelist remains."""
    text = latex.replace("\\sqrt", "sqrt")
    for macro, plain in _MACROS.items():
        text = text.replace(macro, plain)
    text = text.replace("{", "(").replace("}", ")")
    if "\\" in text or not _SAFE.fullmatch(text) or re.search(r"[a-zA-Z]{2,}", re.sub(r"sqrt|pi|oo", "", text)):
        return None
    return text.replace("^", "**")


def _huge_power(power, limit: int) -> bool:
    """A power whose exponent is a number (after floating-point evaluation, which stays fast
    for towers) beyond `limit`: exact evaluation or expansion could take forever."""
    if power.exp.free_symbols:
        return False  # stays symbolic
    exponent = power.exp.evalf(15)
    return not exponent.is_finite or abs(exponent) > limit


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
        if any(_huge_power(p, MAX_NUMERIC_EXPONENT) for p in powers):
            return None
        simplified = sympy.simplify(expr)
        if not any(_huge_power(p, MAX_EXPANDED_EXPONENT) for p in powers):
            simplified = sympy.expand(simplified)  # (x+1)^2 and x^2+2x+1 meet here
        return str(simplified)
    except Exception:  # noqa: BLE001 - sympy raises many kinds on odd input: then it is not an expression
        return None
