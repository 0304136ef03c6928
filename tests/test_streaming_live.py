"""Which graphs stream the chosen model's tokens live, graph by graph, as the README's table says.

README ("Serving", ``stream: true``): the chosen model's tokens live where the graph accepts its
router's choice unjudged (``simple``, ``specialist``), else the accepted answer once accepted.
The expected set is written here, not read from the code, so dropping a graph from (or adding
one to) the live set fails a test: "live" means the caller received the first token before the
answering model produced its last one; "whole" means the caller's first text arrived after it.
"""

from __future__ import annotations

import pytest

from routegraph.graphs.registry import GRAPH_IDS
from tests.test_chat_model import EVENTS, StreamingScriptedModel, collect, routed

LIVE = {"simple", "specialist"}
"""From the README's streaming row; every other graph streams the accepted answer whole."""
WORDS = "one two three four five"


@pytest.mark.parametrize("graph_id", GRAPH_IDS)
def test_live_or_whole_streaming_per_graph(graph_id: str) -> None:
    EVENTS.clear()
    model = routed(
        graph_id,
        small=StreamingScriptedModel(answers=[WORDS]),
        large=StreamingScriptedModel(answers=[WORDS]),
        max_rounds=1,
        max_subtasks=1,
    )
    total = collect(model.stream("What is 2 + 2?"))
    assert total.text  # every graph answers
    caller_first = next(i for i, (who, text) in enumerate(EVENTS) if who == "caller" and text)
    model_words = [i for i, (who, _) in enumerate(EVENTS) if who == "model"]
    assert model_words, f"{graph_id}: the streaming model was not called"
    answered_live = caller_first < model_words[-1]
    assert answered_live is (graph_id in LIVE), (
        f"{graph_id}: expected {'live' if graph_id in LIVE else 'whole'} streaming; events "
        f"{EVENTS[:12]}"
    )
