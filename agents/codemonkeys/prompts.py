"""The prompt formats of the editing and testing trajectories.

models/train_tiny_fixer.py builds its training pairs with these same functions, so the shipped
tiny model sees at run time exactly the layout it was trained on. Any other model gets the same
plain-text prompts (it only talks to the agent through `generate`).
"""
from __future__ import annotations

ISSUE_CHARS = 240  # the issue is cut to this many characters (tiny models have short contexts)
FEEDBACK_CHARS = 300


def clip(text: str, chars: int, tail: bool = False) -> str:
    text = text.strip()
    if len(text) <= chars:
        return text
    return "..." + text[-chars:] if tail else text[:chars] + "..."


def edit_prompt(issue: str, path: str, start: int, window: str, feedback: str | None = None) -> str:
    """Issue, one window of a file (1-based line numbers in the header), optional feedback on
    the previous attempt; the answer is search/replace blocks (agents/codemonkeys/edits.py),
    the first one's path line and SEARCH marker already written (EDIT_PREFILL)."""
    end = start + window.count("\n")
    parts = [f"### Issue\n{clip(issue, ISSUE_CHARS)}\n", f"### File {path} lines {start + 1}-{end}\n{window}"]
    if not window.endswith("\n"):
        parts[-1] += "\n"
    if feedback:
        parts.append(f"### Feedback\n{clip(feedback, FEEDBACK_CHARS, tail=True)}\n")
    parts.append("### Fix\n" + edit_prefill(path))
    return "".join(parts)


def edit_prefill(path: str) -> str:
    """The start of the answer, written for the model: the shown file's block opens."""
    return f"{path}\n<<<<<<< SEARCH\n"


def fit_edit_prompt(issue: str, path: str, start: int, window: str, feedback: str | None,
                    max_chars: int) -> tuple[str, str]:
    """(prompt, the window lines it shows) within `max_chars`: the issue gets at most 40% of
    the budget, the window keeps as many of its first lines as fit (at least one)."""
    issue = clip(issue, min(ISSUE_CHARS, max(120, int(max_chars * 0.4))))
    lines = window.splitlines(keepends=True)
    while len(lines) > 1 and len(edit_prompt(issue, path, start, "".join(lines), feedback)) > max_chars:
        lines.pop()
    shown = "".join(lines)
    return edit_prompt(issue, path, start, shown, feedback), shown


def test_prompt(issue: str, modules: list[str], max_chars: int = 10_000) -> str:
    """Ask for a pytest file that fails while the issue is present."""
    listed = ", ".join(modules[:6])
    issue = clip(issue, min(ISSUE_CHARS, max(120, max_chars - 150)))
    return (f"### Issue\n{issue}\n### Modules\n{listed}\n"
            f"### Test\n# a pytest test that fails while the issue is present\n")


def pick_prompt(issue: str, diffs: list[str], max_chars: int = 10_000) -> str:
    """The selection trajectory: show the top candidates, ask for the number of the best."""
    issue = clip(issue, min(ISSUE_CHARS, max(120, int(max_chars * 0.3))))
    chars_per_diff = max(80, (max_chars - len(issue) - 80) // max(len(diffs), 1) - 20)
    shown = "".join(f"### Candidate {i + 1}\n{clip(d, chars_per_diff)}\n" for i, d in enumerate(diffs))
    return (f"### Issue\n{issue}\n{shown}"
            f"### Choice\nThe candidate that fixes the issue is number ")
