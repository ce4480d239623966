"""Dedup keys: equal keys share one execution and one verdict, so a key may ignore only what
Python ignores (comments, blank lines, trailing whitespace outside strings), never a token or
a byte of a string literal."""
import io
import tokenize

from hypothesis import example, given, settings, strategies as st

from pipeline.core.types import Candidate, content_key


def test_a_hash_inside_a_multiline_string_is_string_content_not_a_comment():
    assert content_key('s = """\n# a\n"""') != content_key('s = """\n# b\n"""')
    assert content_key("s = '''\nx  \n'''") != content_key("s = '''\nx\n'''")  # trailing spaces inside a string


def test_comments_blank_lines_and_trailing_whitespace_do_not_change_the_key():
    plain = "def f(x):\n    s = '# kept'\n    return x + 1\n"
    decorated = "# header\n\ndef f(x):   \n    # why\n\n    s = '# kept'  # note\n    return x + 1  \n\n"
    assert content_key(plain) == content_key(decorated)
    assert Candidate(task_id="t", sample_index=0, content=plain).key == content_key(decorated)


def test_text_the_tokenizer_rejects_is_keyed_by_its_exact_text():
    assert content_key("\\frac{1}{2}") != content_key("\\frac{1}{2} ")
    assert content_key("s = '''open\n# a") != content_key("s = '''open\n# b")  # unterminated string
    assert content_key("if x:\n    a\n  b  # c") != content_key("if x:\n    a\n  b  # d")  # bad dedent


def test_a_blank_line_after_a_backslash_is_kept():
    # `1 + \<newline><newline>2` is a syntax error; without its blank line it is valid
    assert content_key("x = 1 + \\\n\n2\n") != content_key("x = 1 + \\\n2\n")


# --- property: random small programs -------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "x", "if_", "s"])
# string contents made of lines a line-based normaliser mistakes for comments or blank lines
LINE = st.sampled_from(["", "  ", "a", "a  ", "#", "# a", "'#'", '"', "\\"])
LINES = st.lists(LINE, min_size=1, max_size=4)
TEXT = LINES.map("\n".join)


def quoted(text: str, triple: bool) -> str:
    if not triple:
        return repr(text)
    body = text.replace("\\", "\\\\").replace('"', "'")  # no delimiter or escape inside
    return f'"""\n{body}\n"""'  # its own lines, as in a docstring


EXPRESSIONS = st.one_of(
    st.integers(-3, 30).map(str),
    NAMES,
    st.builds(quoted, TEXT, st.booleans()),
)
STATEMENTS = st.one_of(
    st.builds(lambda n, e: f"{n} = {e}", NAMES, EXPRESSIONS),
    st.builds(lambda n, e: f"if {n}:\n    {n} = {e}", NAMES, EXPRESSIONS),
)
PROGRAMS = st.lists(STATEMENTS, min_size=1, max_size=4)
COMMENTS = st.text(alphabet="a#'\" ", max_size=6).map(lambda t: "# " + t)


def significant_tokens(source: str) -> list[tuple[str, str]]:
    """The program as Python reads it: tokens less comments, non-logical line breaks and a
    final line break (3.11's tokenizer emits one only sometimes)."""
    tokens = [(tokenize.tok_name[t.type], "" if t.type == tokenize.NEWLINE else t.string)
              for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER)]
    while tokens and tokens[-1][0] in ("NEWLINE", "DEDENT"):
        tokens.pop()
    return tokens


@st.composite
def decorated(draw, statements: list[str]) -> str:
    """The same program with comments, blank lines and trailing spaces around its statements."""
    lines = []
    for statement in statements:
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(st.sampled_from(["", "   ", draw(COMMENTS), "    " + draw(COMMENTS)])))
        *head, last = statement.split("\n")
        lines += head
        lines.append(last + draw(st.sampled_from(["", "  ", "  " + draw(COMMENTS)])))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n# end\n"]))


@st.composite
def program_pairs(draw) -> tuple[str, str]:
    """A program and a near copy, where a key collision would hide: the same statements
    around one string literal whose copy has one line redrawn, and sometimes one other
    statement redrawn."""
    first = draw(PROGRAMS)
    second = list(first)
    if draw(st.booleans()):
        second[draw(st.integers(0, len(first) - 1))] = draw(STATEMENTS)
    lines = draw(LINES)
    changed = list(lines)
    changed[draw(st.integers(0, len(lines) - 1))] = draw(LINE)
    at, name, triple = draw(st.integers(0, len(first))), draw(NAMES), draw(st.booleans())
    first.insert(at, f"{name} = " + quoted("\n".join(lines), triple))
    second.insert(at, f"{name} = " + quoted("\n".join(changed), triple))
    return "\n".join(first), "\n".join(second)


@settings(max_examples=200, deadline=None, database=None)
@given(program_pairs())
@example(('s = """\n# a\n"""', 's = """\n# b\n"""'))
def test_programs_with_different_tokens_never_share_a_key(pair):
    a, b = pair
    if significant_tokens(a) != significant_tokens(b):
        assert content_key(a) != content_key(b)


@settings(max_examples=200, deadline=None, database=None)
@given(st.data())
def test_comments_and_blank_lines_never_change_the_key(data):
    statements = data.draw(PROGRAMS)
    plain, noisy = "\n".join(statements), data.draw(decorated(statements))
    assert significant_tokens(plain) == significant_tokens(noisy)  # the generator adds only layout
    assert content_key(noisy) == content_key(plain)
