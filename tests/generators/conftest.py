"""Generator fixtures on the shared tiny random Llama (tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_random_model) -> Path:
    return Path(tiny_random_model)


@pytest.fixture(scope="session")
def hf_generator(tiny_model_dir):
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(str(tiny_model_dir), device="cpu") as generator:
        yield generator

