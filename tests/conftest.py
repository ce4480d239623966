"""Shared fixtures: one local Ray per test session, and a multi-node Ray cluster on demand.

Ray's CPU resource is logical: 8 CPUs on a 2-core machine so actor pools and the tasks that
feed them do not deadlock each other (see docs/ARCHITECTURE.md).
"""
from __future__ import annotations

import os

import pytest

RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    # keep the metrics export port outside the 10002-19999 worker-port range
    "RAY_METRICS_EXPORT_PORT": "8089",
}
os.environ.update({k: os.environ.get(k, v) for k, v in RAY_ENV.items()})


def _shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture()
def ray_local():
    """A local single-node Ray with 8 logical CPUs and one `sandbox` resource.

    Started once and kept for the session; only `ray_cluster` shuts it down, and the next
    test that asks for `ray_local` starts it again.
    """
    import ray

    for attempt in (1, 2):  # a loaded 2-core machine can miss Ray's 30 s start-up wait once
        if ray.is_initialized():
            break
        try:
            ray.init(address="local", num_cpus=8, resources={"sandbox": 1}, include_dashboard=False,
                     _metrics_export_port=int(os.environ["RAY_METRICS_EXPORT_PORT"]),
                     log_to_driver=False)
        except Exception:  # noqa: BLE001 - retried once, then raised
            ray.shutdown()
            if attempt == 2:
                raise
    return ray


@pytest.fixture()
def ray_cluster():
    """Three nodes: a head, a 'gpu' node (faked with num_gpus) and a node with `sandbox`."""
    import ray
    from ray.cluster_utils import Cluster

    _shutdown_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2, num_gpus=1, resources={"gpu_node": 1})
    cluster.add_node(num_cpus=4, resources={"sandbox": 1, "sandbox_node": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The sandbox image, built offline once if missing. Without a Docker engine the test
    skips, except under CI, where the engine is part of the set-up and its absence a failure."""
    import docker

    from sandbox.image.build import DEFAULT_TAG, build_image

    try:
        docker.from_env(timeout=10).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no usable engine
        if os.environ.get("CI"):
            pytest.fail(f"no Docker engine under CI: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    build_image(DEFAULT_TAG)  # idempotent; ~1 minute the first time
    return DEFAULT_TAG


@pytest.fixture(scope="session")
def gvisor(sandbox_image) -> str:
    """The runtime name "gvisor", once this host can run gVisor sandboxes. Where it cannot the
    test skips, except under CI, where `bash scripts/dev.sh setup` installs runsc and its
    absence is a failure."""
    from sandbox.gvisor import unavailable_reason

    reason = unavailable_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"gVisor does not work under CI: {reason}")
    if reason:
        pytest.skip(f"gVisor does not work here: {reason}")
    return "gvisor"


@pytest.fixture(scope="module", params=["runc", "gvisor"])
def sandbox_runtime(request, sandbox_image) -> str:
    """Each sandbox runtime in turn: a test taking this runs under both."""
    return request.getfixturevalue("gvisor") if request.param == "gvisor" else "runc"


TINY_TRAINING_TEXT = [
    "def add(a, b):\n    return a + b\n",
    "def f(xs):\n    return [x + 1 for x in xs]\n",
    "The answer is 42. What is 6 times 7? Think step by step.",
    "for i in range(10):\n    print(i * i)\n",
    "héllo wörld — ünïcode ✓ 你好",
]


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer trained in a second on a few code and text lines."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(TINY_TRAINING_TEXT * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_tiny_llama(tokenizer, seed: int = 0):
    """A random-init 2-layer Llama; peaky init (0.2) so greedy decoding has no near-ties."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         initializer_range=0.2, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_random_model(tmp_path_factory) -> str:
    """The random-init tiny Llama with its tokenizer, saved in the transformers format."""
    path = tmp_path_factory.mktemp("tiny-random-llama")
    tokenizer = build_tiny_tokenizer()
    build_tiny_llama(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
