"""Single-location edits of a Python module, driven by its AST: the repository-task benchmark
injects bugs with them (benchmarks/repo_tasks/build.py), and constrained decoding offers them
as candidate fixes (constrain.py).

    from agents.codemonkeys.mutations import mutations, apply_mutation
    for m in mutations(source):             # every single-line mutation, deterministic order
        buggy = apply_mutation(source, m)

Kinds (what a careless edit looks like):
- operator_swap: `+`<->`-`, `==`<->`!=`, `<`<->`>`, `and`<->`or`, `in`<->`not in`, `+=`<->`-=`,
  a dropped `not`, ...
- off_by_one: `<`<->`<=`, `>`<->`>=`, an int constant n -> n+1 / n-1, a slice bound b -> b+1 / b-1
- wrong_variable: a local name read where another local of the same function (one defined
  earlier) was meant
- dropped_condition: one operand of an `and`/`or` in an if/while/assert/ternary test removed, or a
  comprehension's `if` clause removed

Every mutation changes exactly one source line (the span it touches lies on one line) and the
mutated module still parses. The edit is textual (only the touched tokens change), so a diff
between buggy and original source is one line.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterator

from agents.base import parse_python

KINDS = ("operator_swap", "off_by_one", "wrong_variable", "dropped_condition")

BINOP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
                ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
                ast.BitAnd: "&", ast.BitXor: "^"}
BINOP_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "/", "%": "//", "**": "*", "<<": ">>",
              ">>": "<<", "|": "&", "&": "|", "^": "|"}
CMP_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
              ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
CMP_SWAP = {"==": "!=", "!=": "==", "<": ">", ">": "<", "<=": ">=", ">=": "<=", "is": "is not",
            "is not": "is", "in": "not in", "not in": "in"}
CMP_OFF_BY_ONE = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
# A slice bound b becomes `b + 1`; only for expressions that bind at least as tight as `+`.
SLICE_BOUND_TYPES = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.BinOp, ast.UnaryOp)
ARITHMETIC_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
NEEDS_PARENS = (ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr)
SKIPPED_NAMES = {"self", "cls"}
MAX_WRONG_VARIABLES = 2  # alternatives per read site: the locals defined most recently before it


@dataclass(frozen=True)
class Mutation:
    kind: str
    line: int  # 1-based
    original: str  # the original source line, without its line ending
    mutated: str  # the buggy line, without its line ending


def apply_mutation(source: str, m: Mutation) -> str:
    """`source` with line `m.line` replaced by `m.mutated` (its line ending kept)."""
    lines = split_lines(source)
    if not 1 <= m.line <= len(lines):
        raise ValueError(f"mutation line {m.line} is outside the module ({len(lines)} lines)")
    text = lines[m.line - 1]
    body = text.rstrip("\r\n")
    if body != m.original:
        raise ValueError(f"line {m.line} is {body!r}, the mutation expects {m.original!r}")
    lines[m.line - 1] = m.mutated + text[len(body):]
    return "".join(lines)


def split_lines(source: str) -> list[str]:
    """Lines with their endings, split where Python's tokenizer splits (str.splitlines also
    splits at form feeds and Unicode separators, which would shift line numbers)."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", source)


def mutations(source: str) -> list[Mutation]:
    """Every single-location mutation of the module `source`, in source order, deduplicated.
    A module that does not parse has none."""
    try:
        tree = parse_python(source)
    except SyntaxError:
        return []
    lines = [line.rstrip("\r\n") for line in split_lines(source)]
    found: dict[tuple[int, str], Mutation] = {}
    for kind, line, mutated in _edits(tree, lines):
        if mutated != lines[line - 1] and (line, mutated) not in found:
            found[(line, mutated)] = Mutation(kind, line, lines[line - 1], mutated)
    ordered = sorted(found.values(), key=lambda m: (m.line, KINDS.index(m.kind), m.mutated))
    checker = _SyntaxChecker(tree, source, lines)
    return [m for m in ordered if checker.parses(m)]


class _SyntaxChecker:
    """Whether a mutated module parses, without reparsing the whole module each time: the
    statement holding the line (or a compound statement's header, given a body) is parsed alone
    when its original text parses alone; otherwise the whole module is."""

    def __init__(self, tree: ast.Module, source: str, lines: list[str]):
        self.source, self.lines = source, lines
        self.spans = _statement_spans(tree)
        self.alone: dict[int, bool] = {}

    def parses(self, m: Mutation) -> bool:
        if m.line not in self.alone:
            self.alone[m.line] = m.line in self.spans and self._snippet_parses(m.line, m.original)
        if self.alone[m.line]:
            return self._snippet_parses(m.line, m.mutated)
        try:
            parse_python(apply_mutation(self.source, m))
        except SyntaxError:
            return False
        return True

    def _snippet_parses(self, line: int, text: str) -> bool:
        start, end, header = self.spans[line]
        chunk = [*self.lines[start - 1:end]]
        chunk[line - start] = text
        snippet = "\n".join(chunk).lstrip()
        if snippet.startswith("elif "):  # an elif header parses alone as an if header
            snippet = snippet[2:]
        snippet += "\n    pass" if header else ""
        try:
            parse_python(snippet)
        except SyntaxError:
            return False
        return True


def _statement_spans(tree: ast.Module) -> dict[int, tuple[int, int, bool]]:
    """line -> (first, last, is_header) of the smallest statement (or compound header) on it."""
    spans: dict[int, tuple[int, int, bool]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and body[0].lineno > node.lineno:
            span = (node.lineno, body[0].lineno - 1, True)
        else:
            span = (node.lineno, node.end_lineno, False)
        for line in range(span[0], span[1] + 1):
            if line not in spans or span[1] - span[0] < spans[line][1] - spans[line][0]:
                spans[line] = span
    return spans


# ---------------------------------------------------------------- text edits on one line
class _Line:
    """Byte-offset edits of one source line (ast columns are UTF-8 byte offsets)."""

    def __init__(self, lines: list[str], lineno: int):
        self.lineno = lineno
        self.raw = lines[lineno - 1].encode()

    def segment(self, start: int, end: int) -> str:
        return self.raw[start:end].decode()

    def replace(self, start: int, end: int, text: str) -> str:
        return (self.raw[:start] + text.encode() + self.raw[end:]).decode()


def _one_line(*nodes: ast.AST) -> bool:
    lines = {n.lineno for n in nodes} | {n.end_lineno for n in nodes}
    return len(lines) == 1


def _swap_in_gap(lines, left: ast.AST, right: ast.AST, old: str, new: str):
    """Replace the operator `old` between two operands (on one line) with `new`, or None."""
    if left.end_lineno != right.lineno:
        return None
    line = _Line(lines, right.lineno)
    gap = line.segment(left.end_col_offset, right.col_offset)
    if gap.strip(" \t()") != old:
        return None
    start = left.end_col_offset + len(gap[:gap.index(old)].encode())
    return line.lineno, line.replace(start, start + len(old.encode()), new)


def _source(lines, node: ast.AST) -> str:
    text = _Line(lines, node.lineno).segment(node.col_offset, node.end_col_offset)
    return f"({text})" if isinstance(node, NEEDS_PARENS) else text


# ---------------------------------------------------------------- the four kinds
def _edits(tree: ast.Module, lines: list[str]) -> Iterator[tuple[str, int, str]]:
    tests = _condition_tests(tree)
    in_fstrings = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f)}
    for node in ast.walk(tree):
        if id(node) in in_fstrings:  # format specs and f-string columns are not worth the risk
            continue
        if isinstance(node, ast.BinOp):
            yield from _binop(node, lines)
        elif isinstance(node, ast.Compare):
            yield from _compare(node, lines)
        elif isinstance(node, ast.BoolOp):
            yield from _boolop(node, lines, id(node) in tests)
        elif isinstance(node, ast.AugAssign):
            yield from _augassign(node, lines)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and _one_line(node):
            line = _Line(lines, node.lineno)
            yield "operator_swap", node.lineno, line.replace(node.col_offset, node.end_col_offset,
                                                             _source(lines, node.operand))
        elif isinstance(node, ast.Constant) and type(node.value) is int and _one_line(node):
            yield from _constant(node, lines)
        elif isinstance(node, ast.Slice):
            yield from _slice(node, lines)
        elif isinstance(node, ast.comprehension):
            yield from _comprehension(node, lines)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _wrong_variables(node, lines)


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)))


def _binop(node: ast.BinOp, lines):
    old = BINOP_SYMBOL.get(type(node.op))
    if old is None or _is_text(node.left) or _is_text(node.right):  # string concat / % formatting
        return
    edit = _swap_in_gap(lines, node.left, node.right, old, BINOP_SWAP[old])
    if edit:
        yield ("operator_swap", *edit)


def _compare(node: ast.Compare, lines):
    operands = [node.left, *node.comparators]
    for i, op in enumerate(node.ops):
        old = CMP_SYMBOL[type(op)]
        for kind, table in (("operator_swap", CMP_SWAP), ("off_by_one", CMP_OFF_BY_ONE)):
            if old in table:
                edit = _swap_in_gap(lines, operands[i], operands[i + 1], old, table[old])
                if edit:
                    yield (kind, *edit)


def _boolop(node: ast.BoolOp, lines, is_test: bool):
    old = "and" if isinstance(node.op, ast.And) else "or"
    for left, right in zip(node.values, node.values[1:]):
        edit = _swap_in_gap(lines, left, right, old, "or" if old == "and" else "and")
        if edit:
            yield ("operator_swap", *edit)
    if is_test and _one_line(node, *node.values):
        line = _Line(lines, node.lineno)
        for dropped in range(len(node.values)):
            kept = [_source(lines, v) for i, v in enumerate(node.values) if i != dropped]
            yield "dropped_condition", node.lineno, line.replace(
                node.col_offset, node.end_col_offset, f" {old} ".join(kept))


def _augassign(node: ast.AugAssign, lines):
    old = BINOP_SYMBOL.get(type(node.op))
    if old is None or _is_text(node.value):
        return
    edit = _swap_in_gap(lines, node.target, node.value, old + "=", BINOP_SWAP[old] + "=")
    if edit:
        yield ("operator_swap", *edit)


def _constant(node: ast.Constant, lines):
    line = _Line(lines, node.lineno)
    for delta in (1, -1):
        value = node.value + delta
        text = str(value) if value >= 0 else f"({value})"
        yield "off_by_one", node.lineno, line.replace(node.col_offset, node.end_col_offset, text)


def _slice(node: ast.Slice, lines):
    for bound in (node.lower, node.upper):
        if _binds_tight(bound) and _one_line(bound):
            line = _Line(lines, bound.lineno)
            text = line.segment(bound.col_offset, bound.end_col_offset)
            for delta in (" + 1", " - 1"):
                yield "off_by_one", bound.lineno, line.replace(bound.col_offset, bound.end_col_offset, text + delta)


def _binds_tight(node: ast.AST | None) -> bool:
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ARITHMETIC_OPS)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd))
    return isinstance(node, SLICE_BOUND_TYPES)


def _comprehension(node: ast.comprehension, lines):
    previous = node.iter
    for cond in node.ifs:
        if previous.end_lineno == cond.end_lineno:
            line = _Line(lines, cond.lineno)
            yield "dropped_condition", cond.lineno, line.replace(previous.end_col_offset, cond.end_col_offset, "")
        previous = cond


def _condition_tests(tree: ast.Module) -> set[int]:
    """ids of BoolOps inside the test of an if/while/assert/ternary or a comprehension filter."""
    roots = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            roots.append(node.test)
        elif isinstance(node, ast.comprehension):
            roots.extend(node.ifs)
    return {id(n) for root in roots for n in ast.walk(root) if isinstance(n, ast.BoolOp)}


def _wrong_variables(func: ast.FunctionDef | ast.AsyncFunctionDef, lines):
    defined = _locals_defined(func)  # name -> first line it is bound on
    for node in _own_nodes(func):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in defined):
            continue
        earlier = [(line, name) for name, line in defined.items() if name != node.id and line < node.lineno]
        line = _Line(lines, node.lineno)
        for _, name in sorted(earlier, reverse=True)[:MAX_WRONG_VARIABLES]:
            yield "wrong_variable", node.lineno, line.replace(node.col_offset, node.end_col_offset, name)


def _locals_defined(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    args = func.args
    defined = {a.arg: func.lineno - 1 for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                                              *filter(None, [args.vararg, args.kwarg])]}
    for node in _own_nodes(func, into_comprehensions=False):  # comprehension variables do not leak
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined[node.id] = min(node.lineno, defined.get(node.id, node.lineno))
    return {name: line for name, line in defined.items() if name not in SKIPPED_NAMES}


def _own_nodes(func: ast.FunctionDef | ast.AsyncFunctionDef, into_comprehensions: bool = True) -> Iterator[ast.AST]:
    """The nodes of the function's body, not descending into nested functions or classes
    (their locals are not this function's)."""
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    if not into_comprehensions:
        scopes += (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    todo = list(func.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, scopes):
            todo.extend(ast.iter_child_nodes(node))
