"""`import pipeline` (and `sandbox`, `agents`) stays cheap: heavy libraries load only when used."""
import subprocess
import sys

HEAVY = ["torch", "transformers", "docker", "ray", "matplotlib"]


def test_import_pipeline_is_light():
    code = (
        "import sys, pipeline, pipeline.core.config, pipeline.interfaces.cli, pipeline.generators, agents, sandbox\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
