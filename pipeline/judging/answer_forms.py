"""How ttc reads a written final answer before comparing it: the conventions of
pipeline.judging.answers, as plain string functions (no sympy here).

- `unwrap`: the answer inside \\boxed{}, $...$, \\(...\\), \\[...\\]; a trailing full stop dropped.
- `expand_shorthand`: LaTeX shorthand spelled out (\\frac{\\sqrt2}2 -> \\frac{\\sqrt{2}}{2},
  1{,}000 -> 1,000, 45° -> 45^\\circ, 5×3 -> 5\\times3, unicode minus).
- `split_unit`: a number and the unit written after it ("12 cm^2", "45^\\circ", "50\\%", "\\$18.90").
- `choice_letter`: a multiple-choice answer A-E, however wrapped ("(b)", "\\text{B}").
- `split_collection`: the members of a set, a union or a bare comma list.
"""
from __future__ import annotations

import re

PERCENT, DEGREES, DOLLARS = "%", "degrees", "dollars"
_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_CHOICE = re.compile(r"\(?\s*([A-Ea-e])\s*\)?\.?")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox|mathbf)\{([^{}]*)\}")
_SHORTHAND_COMMANDS = ("\\frac", "\\sqrt")
_SPELLED_OUT = {"°": "^\\circ", "²": "^2", "³": "^3", "×": "\\times ", "·": "\\cdot ", "−": "-", "π": "\\pi ",
            "∞": "\\infty ", "√": "\\sqrt", "∪": "\\cup ", "{,}": ","}
_NUMERIC_VALUE = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
# Units are named, so a variable ("12 m" could be 12m) is never taken for one unless spaced.
_UNIT_WORDS = (
    "mm cm dm m km in inch inches ft feet foot yd yard yards mi mile miles mg g kg lb lbs pound pounds oz "
    "ml mL l L s sec second seconds min minute minutes h hr hrs hour hours day days week weeks year years "
    "cents cent dollar dollars units unit square cubic meter meters metre metres centimeter centimeters "
    "kilometer kilometers millimeter millimeters gram grams kilogram kilograms liter liters litre litres "
    "mph km/h m/s ways times"
).split()
_UNIT_WORD = "|".join(sorted(map(re.escape, _UNIT_WORDS), key=len, reverse=True))
_POWER = r"(?:\^\{?[23]\}?)?"
_TRAILING_UNIT = re.compile(rf"\s*\\text\{{\s*([^{{}}]+?)\s*\}}{_POWER}$|\s+((?:{_UNIT_WORD}){_POWER}(?:\s+(?:{_UNIT_WORD}))*)$"
                            rf"|\s*\\(?:,|;|\s)\s*((?:{_UNIT_WORD}){_POWER})$")
# Words that qualify a number rather than name its unit ("3 or more" is not 3).
_QUALIFIER_WORDS = r"\b(?:or|and|not|no|more|less|than|least|most|fewer|greater|only|except|but)\b"
QUALIFIERS = rf"(?!.*{_QUALIFIER_WORDS})"
_QUALIFIER = re.compile(_QUALIFIER_WORDS, re.IGNORECASE)
_TRAILING_WORDS = re.compile(rf"\s+{QUALIFIERS}([A-Za-z]{{2,}}(?:\s+[A-Za-z]+)*)$", re.IGNORECASE)
_DEGREE_MARKS = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\s+degrees?)$")
_PERCENT_MARKS = re.compile(r"\s*(?:\\%|%|\s+percent)$")
_DOLLAR_PREFIX = re.compile(r"^\\?\$\s*")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    return brace_group(text, text.index("{", start))[0]


def brace_group(text: str, at: int) -> tuple[str | None, int]:
    """The {...} group starting at `at` and the index after it; (None, at) if there is none."""
    if at >= len(text) or text[at] != "{":
        return None, at
    depth = 0
    for i in range(at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[at + 1 : i], i + 1
    return None, at


def unwrap(answer: str) -> str:
    """The answer itself: last \\boxed{} content, outer math delimiters off, no final full stop."""
    text = answer.strip()
    boxed = last_boxed(text)
    text = boxed.strip() if boxed is not None else text
    changed = True
    while changed:
        changed = False
        for opening, closing in _DELIMITERS:
            if len(text) > len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
                text, changed = text[len(opening) : -len(closing)].strip(), True
        if text.endswith(".") and not re.search(r"\d\.$", text):  # "5." keeps its point: it is "5.0"
            text, changed = text[:-1].rstrip(), True
    return text


def expand_shorthand(text: str) -> str:
    """Spell out LaTeX shorthand: \\frac ab, \\sqrt2, \\dfrac, {,} thousands, unicode symbols."""
    for symbol, latex in _SPELLED_OUT.items():
        text = text.replace(symbol, latex)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for command in _SHORTHAND_COMMANDS:
        text = _brace_arguments(text, command, 2 if command == "\\frac" else 1)
    return text


def _brace_arguments(text: str, command: str, arity: int) -> str:
    """`\\frac ab` -> `\\frac{a}{b}`: each argument that is one token gets its braces."""
    out, at = [], 0
    while (start := _find_command(text, command, at)) >= 0:
        out.append(text[at:start] + command)
        at = start + len(command)
        if command == "\\sqrt" and text[at:at + 1] == "[":  # \sqrt[3]{x}: keep the index as written
            close = text.find("]", at)
            if close < 0:
                break
            out.append(text[at:close + 1])
            at = close + 1
        for _ in range(arity):
            argument, at = _next_argument(text, at)
            if argument is None:
                break
            out.append("{" + argument + "}")
    return "".join(out) + text[at:]


def _find_command(text: str, command: str, at: int) -> int:
    """Index of `command` as a whole command (\\frac, not \\fraction), or -1."""
    while (start := text.find(command, at)) >= 0:
        after = text[start + len(command) : start + len(command) + 1]
        if not after.isalpha():
            return start
        at = start + 1
    return -1


def _next_argument(text: str, at: int) -> tuple[str | None, int]:
    """The argument at `at` (spaces skipped): a {group}, a \\command with its arguments, or one character."""
    while at < len(text) and text[at] == " ":
        at += 1
    if at >= len(text) or text[at] in "}^_,)]":
        return None, at
    if text[at] == "{":
        group, end = brace_group(text, at)
        return (group, end) if group is not None else (None, at)
    if text[at] == "\\":
        name = re.match(r"\\[A-Za-z]+", text[at:])
        if name is None:
            return None, at
        end = at + len(name.group())
        if name.group() == "\\sqrt":
            inner, end = _next_argument(text, end)
            return (f"\\sqrt{{{inner}}}", end) if inner is not None else (None, at)
        if name.group() in ("\\frac", "\\dfrac", "\\tfrac", "\\binom"):
            return None, at  # "\\frac\\frac12 3" is not shorthand we can spell out: leave it
        return name.group(), end
    return text[at], at + 1


def choice_letter(text: str) -> str | None:
    """"B", "(b)", "\\text{(B)}", "B." -> "B"; None for anything else."""
    plain = _TEXT_WRAPPER.sub(r"\1", text).strip()
    plain = _TEXT_WRAPPER.sub(r"\1", plain).strip()
    found = _CHOICE.fullmatch(plain)
    return found.group(1).upper() if found else None


def split_unit(text: str) -> tuple[str, str | None]:
    """(value, unit): "12 cm^2" -> ("12", "cm^2"), "45^\\circ" -> ("45", "degrees"),
    "50\\%" -> ("50", "%"), "\\$18.90" -> ("18.90", "dollars"); (text, None) when no unit."""
    text = text.strip()
    for marks, unit in ((_DEGREE_MARKS, DEGREES), (_PERCENT_MARKS, PERCENT)):
        value = marks.sub("", text)
        if value != text and _is_quantity(value):
            return value.strip(), unit
    dollars = _DOLLAR_PREFIX.sub("", text)
    if dollars != text and _is_quantity(dollars):
        value, unit = split_unit(dollars)
        return value, unit or DOLLARS
    found = _TRAILING_UNIT.search(text)
    if found and _is_quantity(text[: found.start()]) and not _QUALIFIER.search(found.group()):
        return text[: found.start()].strip(), _canonical_unit(found.group())
    found = _TRAILING_WORDS.search(text)
    if found and _NUMERIC_VALUE.fullmatch(text[: found.start()].strip()):
        return text[: found.start()].strip(), _canonical_unit(found.group(1))  # "204 minutes"
    return text, None


def _is_quantity(value: str) -> bool:
    """A value a unit can follow: it has a digit and no letters outside LaTeX commands."""
    value = value.strip()
    without_commands = re.sub(r"\\[A-Za-z]+", "", value)
    return bool(re.search(r"\d", value)) and not re.search(r"[A-Za-z]", without_commands)


def _canonical_unit(unit: str) -> str:
    """"\\text{ cm}^{2}" -> "cm^2", "square  feet" -> "square feet"."""
    unit = re.sub(r"\\(?:text|mbox|mathrm)\{|\\[,;:! ]|[{}]", "", unit)
    unit = re.sub(r"\s+", " ", unit).strip()
    return {"$": DOLLARS, "dollar": DOLLARS, "\\$": DOLLARS, "°": DEGREES, "degree": DEGREES}.get(unit, unit)


def split_collection(text: str) -> tuple[str, list[str]] | None:
    """("union", parts) for A \\cup B, ("set", members) for \\{a, b\\} or a bare list "a, b";
    None for anything else (a tuple or interval keeps its order: it is one answer)."""
    parts = _split_top_level(text, "\\cup")
    if len(parts) > 1:
        return "union", parts
    stripped = text.strip()
    for opening, closing in (("\\{", "\\}"), ("\\left\\{", "\\right\\}")):
        if stripped.startswith(opening) and stripped.endswith(closing):
            inner = stripped[len(opening) : -len(closing)]
            if _closes_at_end(stripped, opening, closing):
                return "set", [m for m in _split_top_level(inner, ",") if m.strip()]
    members = _split_top_level(stripped, ",")
    if len(members) > 1 and not re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", stripped):
        return "set", members
    return None


def _closes_at_end(text: str, opening: str, closing: str) -> bool:
    """Whether the opening brace of `text` is closed by its last characters (not "\\{1\\}\\cup\\{2\\}")."""
    depth, at = 0, 0
    while at < len(text):
        if text.startswith(opening, at):
            depth, at = depth + 1, at + len(opening)
        elif text.startswith(closing, at):
            depth, at = depth - 1, at + len(closing)
            if depth == 0:
                return at == len(text)
        else:
            at += 1
    return False


def _split_top_level(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside any (), [], {} or \\{\\} group."""
    parts, depth, start, at = [], 0, 0, 0
    while at < len(text):
        if text.startswith("\\{", at) or text.startswith("\\}", at):
            depth += 1 if text[at + 1] == "{" else -1
            at += 2
            continue
        char = text[at]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, at):
            parts.append(text[start:at].strip())
            start = at = at + len(separator)
            continue
        at += 1
    parts.append(text[start:].strip())
    return parts


def pairs_off(xs: list, ys: list, equal) -> bool:
    """Each x pairs with its own y that `equal` accepts, in any order (a multiset: {1,1,2} and
    {1,2} do not pair off)."""
    if len(xs) != len(ys):
        return False
    unmatched = list(ys)
    for x in xs:
        partner = next((y for y in unmatched if equal(x, y)), None)
        if partner is None:
            return False
        unmatched.remove(partner)
    return True
