"""vLLM is an optional extra: without it, choosing the backend fails with a clear message."""
from __future__ import annotations

import importlib.util

import pytest

from pipeline.generators import make_generator
from pipeline.core.registry import UnknownNameError


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_missing_vllm_says_how_to_install():
    from pipeline.generators.vllm import VLLMNotInstalledError

    with pytest.raises(VLLMNotInstalledError, match=r"vLLM is not installed: pip install 'ttc\[vllm\]'"):
        make_generator("vllm", model_path="models/tiny-coder")
    assert issubclass(VLLMNotInstalledError, ImportError)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid: diffusers, hf, openai_compat, quiet_star, vllm"):
        make_generator("tensorrt")


def test_choosing_a_backend_module_does_not_import_the_others():
    import subprocess
    import sys

    code = ("import sys, pipeline.generators, pipeline.generators.openai_compat, pipeline.generators.vllm; "
            "print(sorted(m for m in ('torch', 'transformers', 'vllm', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
