"""``routegraph/app/chat_model.py`` pinned where one-line mutants (mutation/chat_model.toml)
would change what ``RoutedChatModel`` promises a LangChain caller: which settings a call runs
with (constructor parameters, ``bind`` arguments, tools and their ``tool_choice``), what tracing
records and which callbacks see the graph run, when no answer is an error, that a store logs
each call for ``feedback``, and what ``StreamRelay`` streams (live pieces, then only what they
did not cover, with the totals). Scripted chat models (``tests/fakes.py``) stand in for real
ones; every expected value is written out by hand.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from langgraph.store.memory import InMemoryStore

from routegraph.app.chat_model import (
    RoutedChatModel,
    StreamRelay,
    _result,
    _tool_call_chunks,
    normalize_tool_choice,
    outcome_of,
)
from routegraph.core.context import RouteContext
from routegraph.core.errors import InvalidInputError, NoAnswerError
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator
from tests.test_chat_model import CATALOG, TIERS, routed
from tests.test_graph_branches import FixedRouter, handle

F = {"type": "function", "function": {"name": "f", "parameters": {}}}
G = {"type": "function", "function": {"name": "g", "parameters": {}}}
NAMED_F = {"type": "function", "function": {"name": "f"}}
GENERATE = {"langgraph_node": "generate"}


def chunk(content: Any, **fields: Any) -> AIMessageChunk:
    """A streamed piece as a model emits it."""
    return AIMessageChunk(content=content, **fields)


def last(relay: StreamRelay) -> Any:
    """The message of the relay's last chunk."""
    return relay.last_chunk().message


# --- normalize_tool_choice ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("choice", "tools", "expected"),
    [
        (None, [F], None),
        (False, [F], None),
        (True, [F], NAMED_F),
        (True, [F, G], "required"),
        ("any", [F], NAMED_F),
        ("any", [F, G], "required"),
        ("required", [F], NAMED_F),
        ("required", [F, G], "required"),
        ("required", [], "required"),
        ("auto", [F], "auto"),
        ("none", [F], "none"),
        ("g", [F, G], {"type": "function", "function": {"name": "g"}}),
        (NAMED_F, [F, G], NAMED_F),
        ("any", [F, {"type": "function", "function": "g"}], NAMED_F),
    ],
)
def test_tool_choice_spellings(choice: Any, tools: list[Any], expected: Any) -> None:
    assert normalize_tool_choice(choice, tools) == expected


# --- construction -------------------------------------------------------------------------
def test_identity_and_the_compiled_graph() -> None:
    model = routed("simple")
    assert model._llm_type == "routegraph"
    assert model._identifying_params == {"graph": "simple", "context": TIERS}
    graph = model.compiled_graph
    assert graph is model._compiled
    assert graph.get_graph() is not None


def test_standard_parameters_become_their_run_settings() -> None:
    stop = ["END"]
    model = RoutedChatModel(
        graph="simple",
        context={**TIERS, "temperature": 0.9, "call_retries": 5},
        catalog=CATALOG,
        temperature=0.2,
        max_tokens=64,
        timeout=9.0,
        max_retries=0,
        stop=stop,
    )
    assert model._settings == {
        **TIERS,
        "temperature": 0.2,
        "max_tokens": 64,
        "call_timeout_s": 9.0,
        "call_retries": 0,
        "stop": ["END"],
    }
    assert model._settings["stop"] is not stop  # a copy: the caller's list may change later
    plain = RoutedChatModel(graph="simple", context=TIERS, catalog=CATALOG)
    assert plain._settings == TIERS


def test_a_route_context_is_taken_field_by_field() -> None:
    model = RoutedChatModel(
        graph="simple",
        context=RouteContext(weak_model="small", strong_model="large", models=["small", "large"]),
        catalog=CATALOG,
        max_tokens=32,
    )
    assert model._settings["weak_model"] == "small"
    assert model._settings["max_tokens"] == 32
    assert model._settings["threshold"] == RouteContext().threshold


def simple_routed(p_strong: float, small: str, large: str, **extra: Any) -> RoutedChatModel:
    """Simple routing between scripted ``small`` and ``large`` answers by a fixed P(strong)."""
    return RoutedChatModel(
        graph="simple",
        context=TIERS,
        models={
            "small": ScriptedChatModel(answers=[small]),
            "large": ScriptedChatModel(answers=[large]),
        },
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, p_strong)),
        evaluator=TableEvaluator({}),
        catalog=CATALOG,
        **extra,
    )


@pytest.mark.parametrize(("p_strong", "chosen"), [(0.1, "small"), (0.9, "large")])
def test_the_given_router_decides(p_strong: float, chosen: str) -> None:
    """Simple routing at its 0.5 threshold: the given router's P(strong), not the default's."""
    model = simple_routed(p_strong, "from small", "from large")
    reply = model.invoke("What is 2 + 2?")
    assert reply.text == f"from {chosen}"
    assert reply.response_metadata["routegraph"]["chosen_model"] == chosen


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"graph": "nope"}, "graph"), ({"on_no_answer": "maybe"}, "on_no_answer")]
)
def test_unknown_graphs_and_modes_are_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        RoutedChatModel(context=TIERS, catalog=CATALOG, **kwargs)
    assert caught.value.field == field


def test_on_no_answer_modes_are_accepted() -> None:
    for mode in ("raise", "text"):
        assert RoutedChatModel(graph="simple", context=TIERS, catalog=CATALOG, on_no_answer=mode)


# --- tools --------------------------------------------------------------------------------
def test_bind_tools_drops_parallel_tool_calls_and_normalises_the_choice() -> None:
    bound: Any = routed().bind_tools([F], tool_choice="any", parallel_tool_calls=False, seed=4)
    assert bound.kwargs == {"tools": [F], "tool_choice": NAMED_F, "seed": 4}
    plain: Any = routed().bind_tools([F, G])
    assert plain.kwargs == {"tools": [F, G], "tool_choice": None}
    named: Any = routed().bind_tools(tools=[F], tool_choice="f")  # LangChain's keyword form
    assert named.kwargs == {"tools": [F], "tool_choice": NAMED_F}


# --- run_context --------------------------------------------------------------------------
def test_run_context_layers_the_settings() -> None:
    model = routed("simple", max_steps=2)
    assert model.run_context().max_steps == 2
    assert model.run_context(context={"max_steps": 4}).max_steps == 4
    assert model.run_context(context={"max_steps": 4}, max_steps=5).max_steps == 5
    assert model.run_context(context=None).max_steps == 2
    ctx = model.run_context(ls_structured_output_format={"schema": {}})
    assert ctx.max_steps == 2 and ctx.tools == [] and ctx.tool_choice is None


def test_run_context_pins_one_model() -> None:
    ctx = routed("simple").run_context(model="large")
    assert (ctx.models, ctx.weak_model, ctx.strong_model) == (["large"], "large", "large")
    free = routed("simple").run_context()
    assert free.models == ["small", "large"]
    assert (free.weak_model, free.strong_model) == ("small", "large")


def test_run_context_refuses_unknown_arguments_naming_the_call() -> None:
    with pytest.raises(InvalidInputError) as caught:
        routed().run_context(colour="blue", size=2)
    assert caught.value.field == "RoutedChatModel call"
    assert "['colour', 'size']" in str(caught.value)


def test_tools_get_an_explicit_choice() -> None:
    model = routed("simple")
    assert model.run_context(tools=[F, G]).tool_choice == "auto"
    assert model.run_context(tools=[F, G], tool_choice=None).tool_choice == "auto"
    assert model.run_context(tools=[F], tool_choice="any").tool_choice == NAMED_F
    assert model.run_context(tools=[F, G], tool_choice="none").tool_choice == "none"
    configured = routed("simple", tools=[F, G], tool_choice="required")
    assert configured.run_context(tool_choice=None).tool_choice == "required"
    assert configured.run_context(tool_choice="g").tool_choice == {
        "type": "function",
        "function": {"name": "g"},
    }
    assert model.run_context(tool_choice="required").tool_choice == "required"  # no tools


# --- tracing ------------------------------------------------------------------------------
def test_ls_params_name_the_graph_and_the_runs_settings() -> None:
    model = RoutedChatModel(graph="simple", context=TIERS, catalog=CATALOG)
    assert model._get_ls_params() == {
        "ls_provider": "routegraph",
        "ls_model_name": "routegraph-simple",
        "ls_model_type": "chat",
    }
    assert model._get_ls_params(model="large")["ls_model_name"] == "large"
    params = model._get_ls_params(context={"temperature": 1, "max_tokens": 12})
    assert params["ls_temperature"] == 1.0 and type(params["ls_temperature"]) is float
    assert params["ls_max_tokens"] == 12
    assert (
        model._get_ls_params(temperature=0.5, context={"temperature": 1})["ls_temperature"] == 0.5
    )
    assert "ls_temperature" not in model._get_ls_params(temperature="hot")
    assert "ls_max_tokens" not in model._get_ls_params(max_tokens=1.5)
    assert model._get_ls_params(stop=["\n"])["ls_stop"] == ["\n"]


def test_ls_params_take_the_calls_stop_before_the_models() -> None:
    model = RoutedChatModel(
        graph="simple", context=TIERS, catalog=CATALOG, stop=["END"], temperature=0.3
    )
    params = model._get_ls_params()
    assert params["ls_stop"] == ["END"] and params["ls_temperature"] == 0.3
    assert model._get_ls_params(stop=["\n"])["ls_stop"] == ["\n"]
    assert model._get_ls_params(context={"stop": ["X"]})["ls_stop"] == ["X"]


class Counting(BaseCallbackHandler):
    """A plain (non-tracer) handler: counts chat-model starts."""

    def __init__(self) -> None:
        self.starts = 0

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.starts += 1


def test_the_graph_run_gets_only_the_callers_tracers_nested_under_the_call() -> None:
    tracer = RunCollectorCallbackHandler()
    plain = Counting()
    run_id = uuid.uuid4()
    manager = CallbackManagerForLLMRun(
        run_id=run_id,
        handlers=[tracer, plain],
        inheritable_handlers=[tracer, plain],
        parent_run_id=None,
        tags=["own"],
        inheritable_tags=["t"],
        metadata={"own": 1},
        inheritable_metadata={"m": 1},
    )
    child: Any = RoutedChatModel._config(manager)["callbacks"]
    assert child.handlers == [tracer]
    assert child.inheritable_handlers == [tracer]
    assert child.parent_run_id == run_id
    assert (child.tags, child.inheritable_tags) == (["t"], ["t"])
    assert (child.metadata, child.inheritable_metadata) == ({"m": 1}, {"m": 1})
    bare: Any = RoutedChatModel._config(None)["callbacks"]
    assert bare.handlers == [] and bare.parent_run_id is None


def test_a_call_is_one_chat_model_run_and_its_trace_nests_the_graph() -> None:
    tracer = RunCollectorCallbackHandler()
    plain = Counting()
    routed().invoke("What is 2 + 2?", config={"callbacks": [tracer, plain]})
    assert plain.starts == 1
    [root] = tracer.traced_runs
    assert root.run_type == "llm"
    assert [run.name for run in root.child_runs] == ["cascade"]


# --- answers ------------------------------------------------------------------------------
def test_no_answer_raises_with_the_reasons_or_is_returned_as_text() -> None:
    dead: dict[str, Any] = {
        "small": FailingChatModel(),
        "large": FailingChatModel(),
        "call_retries": 0,
    }
    with pytest.raises(NoAnswerError) as caught:
        routed(**dead).invoke("hi")
    assert caught.value.reasons == [
        "small is not available: small: connection (ConnectionError: connection refused)",
        "large is not available: large: connection (ConnectionError: connection refused)",
    ]
    assert caught.value.trace["chosen_model"] is None
    with pytest.raises(NoAnswerError):
        asyncio.run(routed(**dead).ainvoke("hi"))
    with pytest.raises(NoAnswerError):
        list(routed(**dead).stream("hi"))
    text = routed(on_no_answer="text", **dead)
    assert text.invoke("hi").text.startswith("No model could answer: small is not available")
    assert "".join(c.text for c in text.stream("hi")).startswith("No model could answer")


def test_an_answered_call_is_not_an_error_in_either_mode() -> None:
    for mode in ("raise", "text"):
        reply = routed("simple", on_no_answer=mode).invoke("hi")
        assert reply.text == "a draft answer"


def test_a_message_without_a_trace_is_passed_through() -> None:
    model = routed("simple")
    bare = AIMessage("x")
    assert model._answered(bare) is bare
    empty = AIMessage("x", response_metadata={"routegraph": {}})
    assert model._answered(empty) is empty


def test_the_reply_is_the_last_message_copied() -> None:
    final = AIMessage(
        content="hi",
        name="routegraph-simple",
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
        invalid_tool_calls=[{"name": "g", "args": "{", "id": "c2", "error": "bad"}],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        response_metadata={"routegraph": {"chosen_model": "small"}},
    )
    [generation] = _result(final).generations
    reply = generation.message
    assert reply is not final and isinstance(reply, AIMessage)
    assert reply.content == "hi" and reply.name == "routegraph-simple"
    assert reply.tool_calls == final.tool_calls and reply.invalid_tool_calls
    assert reply.usage_metadata == final.usage_metadata
    assert reply.response_metadata == final.response_metadata
    assert reply.response_metadata is not final.response_metadata
    with pytest.raises(RuntimeError, match="ended on a human message"):
        _result(HumanMessage("x"))


HISTORY = [
    HumanMessage("q1"),
    AIMessage("a1"),
    HumanMessage("q2"),
    AIMessage("a2"),
    HumanMessage("q3"),
]


def test_calls_answer_with_the_graphs_last_message() -> None:
    for reply in (
        routed("simple").invoke(HISTORY),
        asyncio.run(routed("simple").ainvoke(HISTORY)),
        asyncio.run(routed("simple").ainvoke("hi")),
    ):
        assert reply.text == "a draft answer"
        assert reply.response_metadata["routegraph"]["chosen_model"] == "small"


# --- the outcome log ----------------------------------------------------------------------
def test_a_store_logs_each_call_and_takes_feedback() -> None:
    store = InMemoryStore()
    model = simple_routed(0.1, "ok", "x", store=store)
    assert model.compiled_graph.store is store
    reply = model.invoke("hi")
    outcome_id = outcome_of(reply)
    assert outcome_id == reply.response_metadata["routegraph"]["outcome_id"]
    record = model.feedback(reply, 1.0, comment="good")
    assert record["id"] == outcome_id and record["feedback"]["score"] == 1.0
    assert model.feedback(outcome_id, 0.0)["feedback"]["score"] == 0.0


def test_feedback_needs_a_store_and_an_outcome_id() -> None:
    model = routed("simple")
    assert model.compiled_graph.store is None
    with pytest.raises(InvalidInputError) as caught:
        model.feedback("some-id", 1.0)
    assert caught.value.field == "store"
    for message in (AIMessage("x"), AIMessage("x", response_metadata={"routegraph": {}})):
        with pytest.raises(InvalidInputError) as caught:
            outcome_of(message)
        assert caught.value.field == "answer"
    assert outcome_of(AIMessage("x", response_metadata={"routegraph": {"outcome_id": 7}})) == "7"


# --- StreamRelay --------------------------------------------------------------------------
def final_update(*messages: AIMessage) -> dict[str, Any]:
    return {"finalize": {"messages": list(messages)}}


def test_the_relay_keeps_the_last_message_of_the_finalize_update() -> None:
    relay = StreamRelay(live=False)
    assert list(relay.feed("updates", {"route": {"decisions": []}})) == []
    assert list(relay.feed("updates", final_update())) == []
    assert list(relay.feed("updates", None)) == []
    with pytest.raises(RuntimeError, match="without a final answer"):
        relay.last_chunk()
    usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    final = AIMessage(
        "the answer", usage_metadata=usage, response_metadata={"routegraph": {"path": ["a"]}}
    )
    earlier = [AIMessage("first"), AIMessage("second")]
    assert list(relay.feed("updates", final_update(*earlier, final))) == []
    answer = last(relay)
    assert answer.content == "the answer"
    assert answer.usage_metadata == usage
    assert answer.response_metadata == {"routegraph": {"path": ["a"]}}


def test_a_judged_graph_relays_no_tokens() -> None:
    relay = StreamRelay(live=False)
    assert list(relay.feed("messages", (chunk("draft"), GENERATE))) == []
    list(relay.feed("updates", final_update(AIMessage("final"))))
    assert last(relay).content == "final"


def test_a_live_graph_relays_the_generate_nodes_pieces_only() -> None:
    relay = StreamRelay(live=True)
    assert list(relay.feed("messages", (chunk("x"), {"langgraph_node": "finalize"}))) == []
    assert list(relay.feed("messages", (HumanMessage("q"), GENERATE))) == []
    assert list(relay.feed("messages", (chunk("", id="m1"), GENERATE))) == []
    [piece] = relay.feed("messages", (chunk("Hel", id="m1"), GENERATE))
    text: Any = piece.message
    assert text.content == "Hel" and text.usage_metadata is None
    call = {"name": "f", "args": '{"a": 1}', "id": "c1", "index": 0, "type": "tool_call_chunk"}
    [tools] = relay.feed("messages", (chunk("", id="m1", tool_call_chunks=[call]), GENERATE))
    called: Any = tools.message
    assert called.tool_call_chunks == [call]
    assert relay.last_call == "m1"
    assert [p.content for p in relay.streamed["m1"]] == ["Hel", ""]


def live_relay(*texts: str, call_id: str = "m1") -> StreamRelay:
    relay = StreamRelay(live=True)
    for text in texts:
        list(relay.feed("messages", (chunk(text, id=call_id), GENERATE)))
    return relay


def test_the_last_chunk_sends_only_what_the_live_pieces_did_not_cover() -> None:
    relay = live_relay("Hel")
    list(relay.feed("updates", final_update(AIMessage("Hello"))))
    assert last(relay).content == "lo"

    covered = live_relay("Hel", "lo")
    list(covered.feed("updates", final_update(AIMessage("Hello"))))
    assert last(covered).content == ""

    replaced = live_relay("Hel")  # a fallback answered instead: its text is not sent twice
    list(replaced.feed("updates", final_update(AIMessage("Bonjour"))))
    assert last(replaced).content == ""

    latest = live_relay("old", call_id="m1")  # only the last call's pieces count
    list(latest.feed("messages", (chunk("Bon", id="m2"), GENERATE)))
    list(latest.feed("updates", final_update(AIMessage("Bonjour"))))
    assert last(latest).content == "jour"


def test_the_last_chunk_of_a_list_content_answer_is_whole() -> None:
    relay = live_relay("Hel")
    parts = [{"type": "text", "text": "Hello"}]
    list(relay.feed("updates", final_update(AIMessage(content=parts))))  # type: ignore[arg-type]
    assert last(relay).content == parts


def test_tool_calls_come_once_live_or_in_the_last_chunk() -> None:
    call = {"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
    piece = {"name": "f", "args": '{"a": 1}', "id": "c1", "index": 0, "type": "tool_call_chunk"}
    final = AIMessage("", tool_calls=[call])

    streamed = StreamRelay(live=True)
    live_piece = chunk("", id="m1", tool_call_chunks=[piece])
    list(streamed.feed("messages", (live_piece, GENERATE)))
    list(streamed.feed("updates", final_update(final)))
    assert last(streamed).tool_call_chunks == []

    texted = live_relay("calling f")  # text streamed live, the call only in the final answer
    list(texted.feed("updates", final_update(AIMessage("calling f", tool_calls=[call]))))
    assert last(texted).tool_call_chunks == [piece]

    judged = StreamRelay(live=False)
    list(judged.feed("updates", final_update(final)))
    assert last(judged).tool_call_chunks == [piece]


def test_tool_call_chunks_of_each_message_kind() -> None:
    partial = {"name": "f", "args": '{"a":', "id": "c1", "index": 3, "type": "tool_call_chunk"}
    assert _tool_call_chunks(chunk("", tool_call_chunks=[partial])) == [partial]
    calls = [
        {"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"},
        {"name": "g", "args": {}, "id": "c2", "type": "tool_call"},
    ]
    assert _tool_call_chunks(AIMessage("", tool_calls=calls)) == [
        {"name": "f", "args": '{"a": 1}', "id": "c1", "index": 0, "type": "tool_call_chunk"},
        {"name": "g", "args": "{}", "id": "c2", "index": 1, "type": "tool_call_chunk"},
    ]
    assert _tool_call_chunks(HumanMessage("x")) == []
