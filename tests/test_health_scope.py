"""Cool-downs are scoped to one endpoint: a dead endpoint never changes another one's route.

The breaker (``routegraph.nodes.health.HEALTH``) is process-wide but keyed by endpoint
(``endpoint_key``: provider, model id and base URL). Two catalog entries name the same model id
on two loopback endpoints: 'dead' on a free port where nothing listens (every call is refused),
'alive' on a local OpenAI-compatible server. After 'dead' has failed often enough to cool down,
'alive' is still called and answers; ``HEALTH.reset()`` (what a test or an operator calls)
clears the cool-down, and 'dead' is tried again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routegraph.app.chat_model import RoutedChatModel
from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.errors import NoAnswerError
from routegraph.nodes.health import DEFAULT_THRESHOLD, HEALTH
from tests.conftest import free_port
from tests.fault_server import ANSWER, FaultServer

MODEL_ID = "same-model-id"  # one model id on both endpoints: only the base URL tells them apart


@pytest.fixture
def alive() -> Iterator[FaultServer]:
    server = FaultServer(default="ok").start()
    HEALTH.reset()
    yield server
    HEALTH.reset()
    server.stop()


def routed(alive: FaultServer) -> RoutedChatModel:
    def entry(name: str, base_url: str) -> ModelSpec:
        return ModelSpec(name, "openai", MODEL_ID, "cloud", 1.0, 2.0, base_url=base_url)

    dead_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: connection refused
    catalog = Catalog({"dead": entry("dead", dead_url), "alive": entry("alive", alive.url)})
    context = {
        "router": "heuristic",
        "models": ["alive", "dead"],
        "weak_model": "alive",
        "strong_model": "dead",
        "threshold": 0.0,  # the router always picks 'dead'
    }
    return RoutedChatModel(graph="simple", catalog=catalog, context=context, max_retries=0)


def faults(error: NoAnswerError) -> str:
    return " ".join(error.reasons)


def test_a_dead_endpoint_cools_down_alone_and_reset_clears_it(alive: FaultServer) -> None:
    model = routed(alive)

    for _ in range(DEFAULT_THRESHOLD):  # refused connections, one try each
        with pytest.raises(NoAnswerError) as refused:
            model.invoke("What is the capital of France?", model="dead")
        assert "connection" in faults(refused.value)
    [dead_key] = HEALTH.status()
    assert "127.0.0.1" in dead_key and alive.url not in dead_key
    assert HEALTH.status()[dead_key]["cooling_down_s"] > 0

    with pytest.raises(NoAnswerError) as skipped:  # now skipped without a try
        model.invoke("What is the capital of France?", model="dead")
    assert "cooling_down" in faults(skipped.value)

    # The other endpoint, same model id, same process, same breaker: still called, answers.
    reply = model.invoke("What is the capital of France?", model="alive")
    assert reply.text == ANSWER and alive.completions == 1
    assert reply.response_metadata["routegraph"]["chosen_model"] == "alive"
    assert list(HEALTH.status()) == [dead_key]  # nothing recorded against 'alive'

    # Routed (not pinned): the router's pick 'dead' is skipped, the call goes on to 'alive'.
    trace = model.invoke("What is the capital of France?").response_metadata["routegraph"]
    assert trace["path"] == ["dead", "alive"] and trace["chosen_model"] == "alive"
    assert "cooling_down" in " ".join(trace["notes"]) and alive.completions == 2

    HEALTH.reset()
    assert HEALTH.status() == {}
    with pytest.raises(NoAnswerError) as tried_again:
        model.invoke("What is the capital of France?", model="dead")
    assert "connection" in faults(tried_again.value)
    assert "cooling_down" not in faults(tried_again.value)
