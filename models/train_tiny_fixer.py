"""Train models/tiny-fixer, a tiny edit model for CodeMonkeys, on bug-injection pairs (CPU, seed).

    python -m models.train_tiny_fixer --out models/tiny-fixer --steps 400 --seed 0

Data: the non-test modules of the TRAIN projects of models/code_corpus.py (pinned sdists; the
repo_tasks benchmark's test projects are never read). Each pair injects one bug with
agents/codemonkeys/mutations.py, shows the 16-line window holding it exactly as the editing
trajectory does (agents/codemonkeys/prompts.edit_prompt, windows aligned to the same stride) with
an issue-like hint naming the function, and asks for the search/replace block that restores the
original line. Starts from models/tiny-py (same tokenizer, a Python prior), context widened to
512; loss on the answer only. Tokenizer, batching and loop are models/train_tiny.py's.
"""
from __future__ import annotations

import argparse
import ast
import json
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

from agents.codemonkeys.edits import Edit, format_edit
from agents.codemonkeys.prompts import edit_prefill, edit_prompt
from models.train_tiny import Recipe, encode_pairs, save, train
from pipeline.judging.repo_verifier import is_test_file

RECIPE = Recipe(task_module="", train_programs=0, data_seeds=1, vocab_size=2048, hidden=160, layers=4,
                heads=4, mlp=448, max_len=384, batch=8, lr=3e-3, warmup=20)
WINDOW, STRIDE = 10, 5  # agents/codemonkeys CodeMonkeys(window_lines=10): stride is half of it
PER_FILE = 40  # mutations sampled per module (a few modules would otherwise dominate)
MAX_MODULE_CHARS = 40_000  # mutations.mutations re-parses the module per mutation: big ones take minutes
# Issue-like hints in the layout of benchmarks/repo_tasks/build.issue_text (a failing test, its
# excerpt, the closing sentence), naming the function the bug is in as a test would call it.
ISSUE = ("{project} {version}: `test_{name}` fails\n\nRunning the project's test `tests/test_{module}.py::test_{name}` "
         "gives:\n\n```\n{excerpt}\n```\n\nThe tests state the intended behaviour; the library currently "
         "returns or raises something else, as shown above. Please fix the library (not the tests).")
EXCERPTS = (
    "    assert {call}(...) == expected\nE   AssertionError: assert {wrong} == {right}",
    "    result = {call}(value)\nE   TypeError: unsupported operand type(s)",
    "    self.assertEqual({call}(data), expected)\nE   AssertionError: {wrong} != {right}",
    "    assert {call}(x)\nE   assert False",
    "    with pytest.raises(ValueError):\nE   Failed: DID NOT RAISE <class 'ValueError'>",
    "    {call}(items)\nE   IndexError: list index out of range",
)
FEEDBACK = (
    "The previous edit was rejected: SEARCH text not found in '{path}'",
    "The previous patch did not fix the issue.\nFAILED test_repro.py::test_issue - AssertionError",
    "The previous edit was rejected: the answer holds no SEARCH/REPLACE block",
)


def source_modules(projects: int | None = None) -> list[tuple[str, str]]:
    """(repository-relative path, text) of every non-test module of the TRAIN projects (the
    first `projects` of them: quick tests fetch one sdist, not twenty)."""
    from models.code_corpus import TRAIN, fetch, project_root, python_files

    modules = []
    for project in TRAIN[:projects]:
        root = project_root(fetch(project))
        for path in python_files(root):
            rel = path.relative_to(root).as_posix()
            text = path.read_text(encoding="utf-8", errors="replace")
            if not is_test_file(rel) and len(text) <= MAX_MODULE_CHARS:
                modules.append((rel, text))
    return modules


def enclosing_names(source: str) -> dict[int, str]:
    """1-based line -> `Class.method` / `function` of the innermost def holding it."""
    names: dict[int, str] = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    names[line] = qual
                visit(child, qual + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return names


def window_starts(line: int, total: int) -> list[int]:
    """0-based starts of the inference windows (context.windows_of) that hold 1-based `line`."""
    starts = list(range(0, max(total - WINDOW, 0) + 1, STRIDE))
    if starts[-1] + WINDOW < total:
        starts.append(total - WINDOW)
    return [s for s in starts if s < line <= s + WINDOW]


def issue_hint(path: str, qualname: str, rng: random.Random) -> str:
    parts = path.removesuffix(".py").split("/")
    name = qualname.split(".")[-1].strip("_") or "call"
    call = qualname if rng.random() < 0.5 else name
    wrong, right = rng.sample(["0", "1", "2", "3", "None", "True", "False", "[]", "''"], 2)
    excerpt = rng.choice(EXCERPTS).format(call=call, wrong=wrong, right=right)
    return ISSUE.format(project=parts[0] if parts[0] != "src" else parts[1], version=rng.choice(["1.0", "2.3.1", "0.9"]),
                        name=name, module=parts[-1],
                        excerpt=excerpt)


def pairs_for_module(path: str, source: str, rng: random.Random) -> list[tuple[str, str]]:
    from agents.codemonkeys.mutations import apply_mutation, mutations

    found = mutations(source)
    if not found:
        return []
    names = enclosing_names(source)
    pairs = []
    for m in rng.sample(found, min(PER_FILE, len(found))):
        if m.line not in names or not m.original.strip():
            continue
        lines = apply_mutation(source, m).splitlines(keepends=True)
        start = rng.choice(window_starts(m.line, len(lines)))
        hint = issue_hint(path, names[m.line], rng)
        feedback = rng.choice(FEEDBACK).format(path=path) if rng.random() < 0.2 else None
        prompt = edit_prompt(hint, path, start, "".join(lines[start:start + WINDOW]), feedback)
        answer = format_edit(Edit(path, m.mutated + "\n", m.original + "\n")).removeprefix(edit_prefill(path))
        pairs.append((prompt, answer))
    return pairs


def training_pairs(seed: int, limit_modules: int | None = None,
                   projects: int | None = None) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    modules = source_modules(projects)
    rng.shuffle(modules)
    pairs = []
    for path, source in modules[:limit_modules]:
        pairs += pairs_for_module(path, source, rng)
    rng.shuffle(pairs)
    return pairs


def start_model(base: Path, max_len: int):
    """tiny-py's weights and tokenizer, positions widened to `max_len` (RoPE has no table)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    model.config.max_position_embeddings = max_len
    return model, tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", type=Path, default=Path("models/tiny-py"))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-modules", type=int, default=None, help="fewer modules (quick tests)")
    parser.add_argument("--projects", type=int, default=None, help="the first N train projects only (quick tests)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    pairs = training_pairs(args.seed, args.limit_modules, args.projects)
    model, tokenizer = start_model(args.base, 512)
    examples = encode_pairs(pairs, tokenizer, RECIPE.max_len)
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny-fixer: {len(pairs)} pairs, {len(examples)} within {RECIPE.max_len} tokens, "
          f"{params / 1e6:.2f}M params", flush=True)
    recipe = replace(RECIPE, batch=min(RECIPE.batch, len(examples)))
    losses = train(model, examples, recipe, args.steps, args.seed, tokenizer.pad_token_id)
    info = {"model": "tiny-fixer", "base": str(args.base), "steps": args.steps, "seed": args.seed,
            "params": params, "pairs": len(pairs), "train_examples": len(examples),
            "final_loss": sum(losses[-25:]) / len(losses[-25:]), "wall_s": round(time.time() - started, 1),
            "recipe": asdict(recipe), "torch_threads": torch.get_num_threads()}
    save(args.out, model, tokenizer, info)
    print(json.dumps({k: v for k, v in info.items() if k != "recipe"}), flush=True)


if __name__ == "__main__":
    main()
