"""The combined answer check, unbounded: callers go through pipeline.judging.answers.judge_answer,
which runs this in a worker process under a time limit.

Order, each step where it is the stronger reader (conventions: pipeline.judging.answers):
1. a multiple-choice letter decides alone (case-free);
2. units, degrees, percent and currency are split off the value;
3. two plain numbers compare exactly (math-verify would round them to 6 decimals);
4. sets, unions and bare lists compare member by member, in any order;
5. ttc's normaliser (exact fractions, sympy on a whitelist);
6. math-verify for what ttc cannot read, its match re-checked exactly (answer_math_verify).
"""
from __future__ import annotations

import re

from pipeline.judging.answer_forms import (PERCENT, choice_letter, expand_shorthand, pairs_off, split_collection,
                                           split_unit, unwrap)
from pipeline.judging.answer_math_verify import math_verify_equal
from pipeline.judging.answers import AnswerJudgement, exact_number, final_answer, normalise_answer

_NAMED_VALUE = re.compile(r"^\s*([A-Za-z]|\\[A-Za-z]+)\s*=\s*(.+)$", re.DOTALL)


def compare_answers(candidate: str, reference: str) -> AnswerJudgement:
    """Whether the candidate's final answer equals the reference answer (no time limit)."""
    answer = final_answer(candidate)
    forms = {"normalised": normalise_answer(answer), "reference_normalised": normalise_answer(reference)}
    match, method = _compare(expand_shorthand(unwrap(answer)), expand_shorthand(unwrap(reference)))
    error = "the reference answer is empty" if method == "no reference" else None
    return AnswerJudgement(match=match, method=method, error=error, **forms)


def _compare(given: str, wanted: str) -> tuple[bool, str]:
    if not wanted:
        return False, "no reference"
    if not given:
        return False, "no answer"
    wanted_letter = choice_letter(wanted)
    if wanted_letter is not None:
        return choice_letter(given) == wanted_letter, "choice letter"
    return match_quantity(given, wanted)


def match_quantity(given: str, wanted: str) -> tuple[bool, str]:
    """(match, method) after units are split off: same unit or one side without."""
    (value, unit), (wanted_value, wanted_unit) = split_unit(given), split_unit(wanted)
    if unit and wanted_unit and unit != wanted_unit:
        return False, "different units"
    for reading in _readings(value, unit, wanted_unit):
        for wanted_reading in _readings(wanted_value, wanted_unit, unit):
            match, method = match_value(reading, wanted_reading)
            if match:
                return True, method
    return False, "no match"


def _readings(value: str, unit: str | None, other_unit: str | None) -> list[str]:
    """The values a side may mean: "50%" against a plain number is 50 or 50/100."""
    if unit == PERCENT and other_unit != PERCENT:
        number = _number(value)
        return [value, str(number / 100) if number is not None else f"\\frac{{{value}}}{{100}}"]
    return [value]


def match_value(given: str, wanted: str) -> tuple[bool, str]:
    given_number, wanted_number = _number(given), _number(wanted)
    if given_number is not None and wanted_number is not None:
        return given_number == wanted_number, "exact number"
    collections = split_collection(given), split_collection(wanted)
    if all(collections) and collections[0][0] == collections[1][0]:
        return _members_match(collections[0][1], collections[1][1]), f"{collections[1][0]} members"
    lone = _lone_member(collections[0]), _lone_member(collections[1])
    if (lone[0] is None) != (lone[1] is None) and not all(collections):  # {a} against a
        return match_quantity(lone[0] or given, lone[1] or wanted)[0], "one-member set"
    if normalise_answer(given) == normalise_answer(wanted):
        return True, "normaliser"
    if math_verify_equal(wanted, given):
        return True, "math-verify"
    return False, "no match"


def _lone_member(collection: tuple[str, list[str]] | None) -> str | None:
    kind, members = collection or ("", [])
    return members[0] if kind == "set" and len(members) == 1 else None


def _number(text: str):
    try:
        return exact_number(text)
    except (ValueError, RecursionError):
        return None


def _members_match(given: list[str], wanted: list[str]) -> bool:
    """A pairing of equal members, any order (a multiset: {1,1,2} != {1,2}); in order when the
    reference names each member ("x=1, y=2") and the candidate names none ("1, 2")."""
    if len(given) != len(wanted):
        return False
    if all(map(_NAMED_VALUE.match, wanted)) and not any(map(_NAMED_VALUE.match, given)):
        return all(_member_equal(g, w) for g, w in zip(given, wanted))
    return pairs_off(given, wanted, _member_equal)


def _member_equal(given: str, wanted: str) -> bool:
    """Members compare as quantities; "x=1" against "y=1" differs (the names differ)."""
    named_given, named_wanted = _NAMED_VALUE.match(given), _NAMED_VALUE.match(wanted)
    if named_given and named_wanted:
        if named_given.group(1) != named_wanted.group(1):
            return False
        given, wanted = named_given.group(2), named_wanted.group(2)
    return match_quantity(given, wanted)[0]
