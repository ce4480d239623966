"""The generator backend registry: names, lazy imports."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.core.registry import UnknownNameError
from pipeline.generators import make_generator


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid: diffusers, hf, openai_compat, quiet_star$"):
        make_generator("vllm")  # a server behind openai_compat, not an in-process backend


def test_choosing_a_backend_module_does_not_import_the_others():
    code = ("import sys, pipeline.generators, pipeline.generators.openai_compat; "
            "print(sorted(m for m in ('torch', 'transformers', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
