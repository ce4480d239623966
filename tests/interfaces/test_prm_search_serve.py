"""prm_search's options over `ttc serve`: beam width and search depth capped by ServeLimits,
the tokens a search may generate by max_total_tokens, bad values by the Options model."""
import json

import pytest

from benchmarks.tasks.arith_word import make_tasks
from pipeline.interfaces.serve import HttpError, ServeLimits, parse_request

TASK = make_tasks("test", n=1)[0].model_dump(mode="json")


def request(n: int = 4, max_new_tokens: int = 16, **options) -> bytes:
    return json.dumps({"task": TASK, "n": n, "max_new_tokens": max_new_tokens, "strategy": "prm_search",
                       "strategy_options": options}).encode()


@pytest.mark.parametrize("raw, words", [
    (request(beam_width=17), "strategy_options.beam_width: 17 exceeds this server's max_beam_width=16"),
    (request(max_steps=33), "strategy_options.max_steps: 33 exceeds this server's max_search_steps=32"),
    (request(n=256, max_new_tokens=4096, max_steps=8), "over this server's max_total_tokens=1048576"),
    (request(method="mcts"), "strategy_options.method: Input should be 'beam', 'dvts', 'particle_filter' or 'best_of_n'"),
    (request(beam_width=0), "strategy_options.beam_width: Input should be greater than or equal to 1"),
    (request(separator=""), "strategy_options.separator: String should have at least 1 character"),
    (request(temperature=0), "strategy_options.temperature: Input should be greater than 0"),
])
def test_prm_search_options_are_bounded(raw, words):
    with pytest.raises(HttpError) as caught:
        parse_request(raw, ServeLimits())
    assert caught.value.status == 422 and words in caught.value.message, caught.value.message


def test_options_within_the_caps_pass_and_a_server_may_lower_them():
    ok = request(method="dvts", beam_width=16, max_steps=32)
    assert parse_request(ok, ServeLimits()).strategy_options["beam_width"] == 16
    with pytest.raises(HttpError, match="max_beam_width=4"):
        parse_request(ok, ServeLimits(max_beam_width=4))
