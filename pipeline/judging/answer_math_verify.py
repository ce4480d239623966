"""math-verify (Hugging Face) as a second reader of answers, with its matches re-checked.

math-verify parses far more LaTeX than ttc's normaliser (factorials, sets, relations, matrices,
complex numbers), but its equality is lenient in ways that let different answers pass:
- numbers equal after rounding to 6 decimals, and `(a - b).evalf(chop=True) == 0`, so
  "\\frac{1}{2004!}" == "\\frac{1}{2005!}" and "0.707107" == "\\frac{\\sqrt2}2";
- a parse can drop what it does not understand ("\\lambda=2\\sqrt2, A(\\pm1,0)" parses as 0);
- words become products of one-letter symbols ("Friday" == "Firday") and symbols lose case.
So a math-verify match counts only when both parses are faithful (no word, no identifier
lost, no identifier differing only in case) and the parsed values are exactly equal, without
rounding (`exactly_equal`). math-verify's own timeouts are off (they use signal.alarm, main
thread only): the caller bounds the whole check (pipeline.judging.answer_pool).
"""
from __future__ import annotations

import logging
import re

from pipeline.judging.answer_forms import pairs_off
from pipeline.judging.answer_symbolic import too_heavy

MAX_CHARS = 1000  # final answers are short; a page of LaTeX is not one
_GREEK = set("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
             "rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega".split())
_CONSTANT_LETTERS = {"e", "i"}  # may become Euler's e and the imaginary unit rather than symbols
_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\{[^{}]*\}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[a-z]*\*?\}")  # \begin{pmatrix}: a name, not a word
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_WORD = re.compile(r"[A-Za-z]{3,}")


def math_verify_equal(reference: str, candidate: str) -> bool:
    """Whether math-verify finds the two answers equal and the re-check confirms it."""
    texts = (reference, candidate)
    if not all(map(_readable, texts)) or _case_clash(reference, candidate):
        return False
    if any(len(text) > MAX_CHARS or too_heavy(text) for text in texts):
        return False  # its parser evaluates numbers: 9^{9^9} would run for minutes
    gold, pred = _parse(reference), _parse(candidate)
    if not gold or not pred:
        return False
    from math_verify import verify

    if not verify(gold, pred, timeout_seconds=None):
        return False
    gold_value, pred_value = gold[0], pred[0]
    faithful = _faithful(reference, gold_value) and _faithful(candidate, pred_value)
    return faithful and exactly_equal(gold_value, pred_value)


def _parse(answer: str) -> list:
    from math_verify import parse

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled" is our choice
    return parse(f"${answer}$", parsing_timeout=None)


def _readable(text: str) -> bool:
    """No words and no \\text{}: math-verify would read "Friday" as f*r*i*d*a*y."""
    return not _TEXT_COMMAND.search(text) and not _WORD.search(_COMMAND.sub(" ", _ENVIRONMENT.sub(" ", text)))


def identifiers(text: str) -> set[str]:
    """Variables written in `text`: single letters outside commands, and Greek letters."""
    text = _ENVIRONMENT.sub(" ", _TEXT_COMMAND.sub(" ", text))
    greek = {name for name in _COMMAND.findall(text) if name in _GREEK}
    return greek | set(re.findall(r"[A-Za-z]", _COMMAND.sub(" ", text)))


def _case_clash(reference: str, candidate: str) -> bool:
    """"X^2" vs "x^2": math-verify lower-cases symbols; ttc keeps X and x apart."""
    ours, theirs = identifiers(reference), identifiers(candidate)
    return any(a != b and a.lower() == b.lower() for a in ours for b in theirs) and ours != theirs


def _faithful(text: str, value) -> bool:
    """Every variable of the text survives in the parse (none was dropped on the way)."""
    try:
        names = {str(symbol).lower() for symbol in value.free_symbols}
    except AttributeError:
        return False  # a string fallback, not a parsed value
    wanted = {name.lower() for name in identifiers(text)} - _CONSTANT_LETTERS
    return wanted <= names


def exactly_equal(a, b) -> bool:
    """Equality without tolerance: floats are the decimals they spell, sets match as sets,
    intervals by their ends and brackets, tuples in order."""
    import sympy

    a, b = _value_of(a, b), _value_of(b, a)
    if isinstance(a, sympy.Set) or isinstance(b, sympy.Set):
        return _sets_equal(a, b)
    if isinstance(a, sympy.Tuple) or isinstance(b, sympy.Tuple):
        return (isinstance(a, sympy.Tuple) and isinstance(b, sympy.Tuple) and len(a) == len(b)
                and all(exactly_equal(x, y) for x, y in zip(a, b)))
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        return (isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase) and a.shape == b.shape
                and all(exactly_equal(x, y) for x, y in zip(a, b)))
    if isinstance(a, sympy.core.relational.Relational) or isinstance(b, sympy.core.relational.Relational):
        return _relations_equal(a, b)
    return _zero(_exact(a) - _exact(b))


def _value_of(value, other):
    """x = 3 -> 3 when the other side is not a relation (math-verify's reading of answers)."""
    import sympy

    relational = sympy.core.relational.Relational
    if isinstance(value, sympy.Eq) and not isinstance(other, relational) and _is_name(value.lhs):
        return value.rhs
    return value


def _is_name(expr) -> bool:
    """x or f(x): the left side of an answer written as an assignment."""
    import sympy

    return isinstance(expr, (sympy.Symbol, sympy.core.function.AppliedUndef))


def _sets_equal(a, b) -> bool:
    import sympy

    if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet):
        return _bijection(list(a.args), list(b.args))
    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        return (a.left_open == b.left_open and a.right_open == b.right_open
                and exactly_equal(a.start, b.start) and exactly_equal(a.end, b.end))
    if isinstance(a, sympy.Union) and isinstance(b, sympy.Union):
        return _bijection(list(a.args), list(b.args))
    return False


def _bijection(xs: list, ys: list) -> bool:
    """Each x pairs with its own exactly equal y."""
    return pairs_off(xs, ys, exactly_equal)


def _relations_equal(a, b) -> bool:
    import sympy

    relational = sympy.core.relational.Relational
    if not (isinstance(a, relational) and isinstance(b, relational)):
        return False
    if a.rel_op == b.rel_op and exactly_equal(a.lhs, b.lhs) and exactly_equal(a.rhs, b.rhs):
        return True
    return a.reversed.rel_op == b.rel_op and exactly_equal(a.reversed.lhs, b.lhs) and exactly_equal(a.reversed.rhs, b.rhs)


def _exact(value):
    """Floats replaced by the exact decimals they were written as (0.1 -> 1/10)."""
    import sympy

    try:
        value = sympy.sympify(value)
        floats = {f: sympy.Rational(str(f)) for f in value.atoms(sympy.Float)}
        return value.xreplace(floats)
    except (sympy.SympifyError, TypeError, ValueError, AttributeError):
        return value


def _zero(difference) -> bool:
    """Provably zero: sympy's simplification gives exactly 0 (no numerical evaluation)."""
    import sympy

    try:
        return sympy.simplify(difference) == 0
    except Exception:  # noqa: BLE001 - sympy fails in many ways on odd values: not provably zero
        return False
