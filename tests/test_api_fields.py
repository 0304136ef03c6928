"""OpenAI's generation fields on ``/v1/chat/completions``: what reaches the model and what is
accepted without being forwarded (README, "Serving": ``stop`` goes to whichever model answers;
``top_p``, ``logprobs`` and the like are accepted and not forwarded, routing picks the model)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage
from starlette.testclient import TestClient

from routegraph.app.server.app import create_app
from routegraph.app.server.keys import KeyRing
from routegraph.graphs.registry import build_graph
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle

CATALOG = tiny_catalog()
SETTINGS = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
SEEN: list[dict[str, Any]] = []


class KwargsRecordingModel(ScriptedChatModel):
    """Records the ``stop`` and keyword arguments of every call."""

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> Any:  # fmt: skip
        SEEN.append({"stop": stop, **kwargs})
        return super()._generate(messages, stop, run_manager, **kwargs)


def client() -> TestClient:
    def build(graph_id: str) -> Any:
        return build_graph(
            graph_id,
            catalog=CATALOG,
            models={
                "small": KwargsRecordingModel(answers=["4"]),
                "large": KwargsRecordingModel(answers=["4!"]),
            },  # fmt: skip
            evaluator=TableEvaluator({"small": 0.9}),
            router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1)),
        )

    return TestClient(create_app(build, db="", catalog=CATALOG, keys=KeyRing()))


def ask(http: TestClient, **fields: Any) -> Any:
    body = {"model": "routegraph-simple", "routegraph": SETTINGS,
            "messages": [{"role": "user", "content": "What is 2 + 2?"}], **fields}  # fmt: skip
    return http.post("/v1/chat/completions", json=body)


def test_stop_reaches_the_answering_model_as_a_list() -> None:
    SEEN.clear()
    with client() as http:
        one = ask(http, stop="\n\n")
        many = ask(http, stop=["END", "###"])
    assert one.status_code == 200 and many.status_code == 200
    assert [call["stop"] for call in SEEN] == [["\n\n"], ["END", "###"]]
    with client() as http:
        too_many = ask(http, stop=["a", "b", "c", "d", "e"])
        empty = ask(http, stop=[""])
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "stop"
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "stop"


def test_top_p_and_logprobs_are_accepted_and_not_forwarded() -> None:
    SEEN.clear()
    with client() as http:
        reply = ask(http, top_p=0.5, logprobs=True, top_logprobs=2, presence_penalty=0.1)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["logprobs"] is None
    (call,) = SEEN
    assert not {"top_p", "logprobs", "top_logprobs", "presence_penalty"} & set(call)
