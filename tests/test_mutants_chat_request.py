"""``routegraph/app/server/chat_request.py`` pinned where one-line mutants
(mutation/chat_request.toml) would change what an OpenAI chat-completions body is accepted as,
or how a refusal reads: its status (400, or 404 for an unknown model) and the exact body field
it names (``param``). The parsers are called directly, with no server; every expected value is
written out by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from routegraph.app.server.chat_request import (
    ChatRequest,
    openai_settings,
    owned_thread_id,
    parse_chat_request,
    parse_messages,
    parse_tool_choice,
    parse_tools,
    text_content,
    tool_calls_of,
)
from routegraph.app.server.errors import ApiError
from routegraph.app.server.keys import ApiKey

USER = {"role": "user", "content": "hi"}
TOOL_F = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
TOOL_G = {"type": "function", "function": {"name": "g"}}


def body(**fields: Any) -> dict[str, Any]:
    """A valid body (a graph id and one user message) with ``fields`` set or replaced."""
    return {"model": "routegraph-simple", "messages": [USER], **fields}


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str | None]:
    """The (status, param) of the ApiError ``call`` raises."""
    with pytest.raises(ApiError) as info:
        call(*args, **kwargs)
    return info.value.status, info.value.param


# --- owned_thread_id / kept_thread_id -----------------------------------------------------
def test_a_thread_is_kept_under_its_key_id() -> None:
    key = ApiKey(id="k1", name="team", hash="h")
    assert owned_thread_id("t1", key) == "k1/t1"
    assert owned_thread_id("t1", None) == "t1"
    assert owned_thread_id(None, key) is None
    assert owned_thread_id(None, None) is None


def test_a_request_keeps_its_thread_under_its_key() -> None:
    request = parse_chat_request(body(thread_id="t1"))
    assert request.kept_thread_id == "t1"
    request.key = ApiKey(id="k1", name="team", hash="h")
    assert request.kept_thread_id == "k1/t1"
    assert parse_chat_request(body()).kept_thread_id is None


# --- parse_chat_request -------------------------------------------------------------------
def test_a_minimal_body_gives_the_defaults() -> None:
    request = parse_chat_request(body())
    assert isinstance(request, ChatRequest)
    assert request.target.model_id == "routegraph-simple"
    assert request.target.graph_id == "simple"
    assert len(request.messages) == 1
    assert isinstance(request.messages[0], HumanMessage)
    assert request.messages[0].content == "hi"
    assert request.context == {}
    assert request.context_params == {}
    assert request.stream is False
    assert request.include_usage is False
    assert request.thread_id is None
    assert request.multitask_strategy is None
    assert request.key is None


def test_a_chat_request_built_without_stream_settings_is_a_plain_one() -> None:
    target = parse_chat_request(body()).target
    request = ChatRequest(target=target, messages=[HumanMessage("hi")], context={})
    assert request.stream is False
    assert request.include_usage is False
    assert request.thread_id is None and request.key is None
    assert request.context_params == {} and request.multitask_strategy is None


@pytest.mark.parametrize("raw", [None, [], "{}", 1])
def test_a_body_that_is_not_an_object_is_refused(raw: Any) -> None:
    assert refused(parse_chat_request, raw) == (400, None)


def test_unknown_fields_are_refused_naming_the_first_in_order() -> None:
    with pytest.raises(ApiError) as info:
        parse_chat_request(body(zeta=1, alpha=2))
    assert info.value.status == 400
    assert info.value.param == "alpha"
    assert info.value.message.startswith("Unrecognized request argument(s): alpha, zeta.")
    assert refused(parse_chat_request, body(zeta=1)) == (400, "zeta")


def test_ignored_openai_fields_are_accepted_and_dropped() -> None:
    request = parse_chat_request(body(top_p=0.5, user="u", presence_penalty=0.1))
    assert request.context == {}


@pytest.mark.parametrize("model", [None, "", 5])
def test_a_missing_or_empty_model_is_refused(model: Any) -> None:
    raw = body(model=model)
    if model is None:
        del raw["model"]
    assert refused(parse_chat_request, raw) == (400, "model")


@pytest.mark.parametrize("model", ["gpt-4o", "routegraph-nope", "router-default-1.5"])
def test_an_unknown_model_is_a_404(model: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_chat_request(body(model=model))
    assert (info.value.status, info.value.param, info.value.code) == (
        404,
        "model",
        "model_not_found",
    )


def test_a_router_id_sets_the_context_and_names_the_model_as_its_source() -> None:
    request = parse_chat_request(body(model="router-default-0.5"))
    assert request.target.graph_id == "simple"
    assert request.context == {"router": "default", "threshold": 0.5}
    assert request.context_params == {"router": "model", "threshold": "model"}


def test_routegraph_settings_override_the_model_ids_and_name_their_field() -> None:
    request = parse_chat_request(
        body(model="router-default-0.5", routegraph={"threshold": 0.7, "budget_usd": 1.0})
    )
    assert request.context == {"router": "default", "threshold": 0.7, "budget_usd": 1.0}
    assert request.context_params == {
        "router": "model",
        "threshold": "routegraph.threshold",
        "budget_usd": "routegraph.budget_usd",
    }


@pytest.mark.parametrize("extra", [[], "x", 1])
def test_routegraph_must_be_an_object(extra: Any) -> None:
    assert refused(parse_chat_request, body(routegraph=extra)) == (400, "routegraph")


def test_openai_fields_reach_the_context_under_their_own_names() -> None:
    request = parse_chat_request(
        body(routegraph={"temperature": 1.5}, temperature=0.5, max_tokens=9, seed=3)
    )
    assert request.context == {"temperature": 0.5, "max_tokens": 9, "seed": 3}
    assert request.context_params == {
        "temperature": "temperature",
        "max_tokens": "max_tokens",
        "seed": "seed",
    }


@pytest.mark.parametrize("thread_id", ["", "   ", 5, ["t"]])
def test_a_thread_id_must_be_a_non_empty_string(thread_id: Any) -> None:
    assert refused(parse_chat_request, body(thread_id=thread_id)) == (400, "thread_id")


def test_a_thread_id_is_kept() -> None:
    assert parse_chat_request(body(thread_id="t1")).thread_id == "t1"
    assert parse_chat_request(body(thread_id=None)).thread_id is None


@pytest.mark.parametrize("strategy", ["reject", "enqueue"])
def test_the_multitask_strategies(strategy: str) -> None:
    assert parse_chat_request(body(multitask_strategy=strategy)).multitask_strategy == strategy


@pytest.mark.parametrize("strategy", ["interrupt", "", 1])
def test_other_multitask_strategies_are_refused(strategy: Any) -> None:
    assert refused(parse_chat_request, body(multitask_strategy=strategy)) == (
        400,
        "multitask_strategy",
    )


def test_stream_and_usage() -> None:
    assert parse_chat_request(body(stream=True)).stream is True
    assert parse_chat_request(body(stream=False)).stream is False
    on = parse_chat_request(body(stream=True, stream_options={"include_usage": True}))
    assert on.include_usage is True
    assert parse_chat_request(body(stream_options={})).include_usage is False
    off = parse_chat_request(body(stream_options={"include_usage": False}))
    assert off.include_usage is False
    assert parse_chat_request(body(stream_options=None)).include_usage is False


@pytest.mark.parametrize("stream", ["yes", 1, None])
def test_stream_must_be_a_bool(stream: Any) -> None:
    assert refused(parse_chat_request, body(stream=stream)) == (400, "stream")


@pytest.mark.parametrize("options", ["x", [1], {"include_usage": "yes"}, {"include_usage": 1}])
def test_stream_options_must_hold_a_bool(options: Any) -> None:
    assert refused(parse_chat_request, body(stream_options=options)) == (400, "stream_options")


def test_messages_are_checked_by_the_body_parser() -> None:
    assert refused(parse_chat_request, body(messages=[])) == (400, "messages")


# --- openai_settings ----------------------------------------------------------------------
def test_no_openai_fields_give_no_settings() -> None:
    assert openai_settings({}) == {}


@pytest.mark.parametrize("n", [2, 0, "1"])
def test_only_one_choice(n: Any) -> None:
    assert refused(openai_settings, {"n": n}) == (400, "n")


def test_n_of_one_is_accepted() -> None:
    assert openai_settings({"n": 1}) == {}


@pytest.mark.parametrize(("value", "kept"), [(0, 0.0), (2, 2.0), (1, 1.0), (0.7, 0.7)])
def test_temperatures_from_0_to_2(value: float, kept: float) -> None:
    settings = openai_settings({"temperature": value})
    assert settings == {"temperature": kept}
    assert type(settings["temperature"]) is float


@pytest.mark.parametrize("value", [-0.0001, 2.0001, -1, 3, True, "1"])
def test_temperatures_outside_0_to_2_or_not_numbers_are_refused(value: Any) -> None:
    assert refused(openai_settings, {"temperature": value}) == (400, "temperature")


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_token_limits_of_at_least_one(name: str) -> None:
    assert openai_settings({name: 1}) == {"max_tokens": 1}
    assert openai_settings({name: 2}) == {"max_tokens": 2}
    for bad in (0, -1, True, False, 1.0, "5"):
        assert refused(openai_settings, {name: bad}) == (400, name)


def test_max_tokens_wins_over_max_completion_tokens() -> None:
    both = {"max_completion_tokens": 5, "max_tokens": 7}
    assert openai_settings(both) == {"max_tokens": 7}


def test_a_token_limit_is_named_by_the_field_the_client_sent() -> None:
    """A ceiling refusal names the body field: ``max_completion_tokens`` when that is what came
    (the newer OpenAI name), ``max_tokens`` when it came, ``routegraph.max_tokens`` from there."""
    newer = parse_chat_request(body(max_completion_tokens=5))
    assert newer.context["max_tokens"] == 5
    assert newer.context_params["max_tokens"] == "max_completion_tokens"
    older = parse_chat_request(body(max_tokens=7, max_completion_tokens=5))
    assert older.context_params["max_tokens"] == "max_tokens"
    routed = parse_chat_request(body(routegraph={"max_tokens": 9}))
    assert routed.context_params["max_tokens"] == "routegraph.max_tokens"


@pytest.mark.parametrize("seed", [0, 7, -3])
def test_integer_seeds(seed: int) -> None:
    assert openai_settings({"seed": seed}) == {"seed": seed}


@pytest.mark.parametrize("seed", [True, "7", 1.5])
def test_other_seeds_are_refused(seed: Any) -> None:
    assert refused(openai_settings, {"seed": seed}) == (400, "seed")


def test_stop_sequences() -> None:
    assert openai_settings({"stop": "END"}) == {"stop": ["END"]}
    four = ["a", "b", "c", "d"]
    assert openai_settings({"stop": four}) == {"stop": four}
    assert openai_settings({"stop": []}) == {"stop": []}


@pytest.mark.parametrize("stop", ["", [""], ["a", ""], [1], {"a": 1}, 5])
def test_stop_must_be_non_empty_strings(stop: Any) -> None:
    assert refused(openai_settings, {"stop": stop}) == (400, "stop")


def test_stop_takes_at_most_4_sequences() -> None:
    with pytest.raises(ApiError) as info:
        openai_settings({"stop": ["a", "b", "c", "d", "e"]})
    assert (info.value.status, info.value.param) == (400, "stop")
    assert info.value.message == "'stop' takes at most 4 sequences."


def test_tools_and_tool_choice_settings() -> None:
    assert openai_settings({"tools": [TOOL_F]}) == {"tools": [TOOL_F]}
    assert openai_settings({"tools": [TOOL_F], "tool_choice": "required"}) == {
        "tools": [TOOL_F],
        "tool_choice": "required",
    }
    assert openai_settings({"tool_choice": "auto"}) == {"tool_choice": "auto"}
    assert refused(openai_settings, {"tool_choice": "required"}) == (400, "tool_choice")
    assert refused(openai_settings, {"tools": "f"}) == (400, "tools")


# --- parse_tools --------------------------------------------------------------------------
def test_function_tools_come_back_as_given() -> None:
    tools = [TOOL_F, TOOL_G]
    assert parse_tools(tools) is tools
    assert parse_tools([]) == []


@pytest.mark.parametrize("tools", [None, "f", {"type": "function"}])
def test_tools_must_be_a_list(tools: Any) -> None:
    assert refused(parse_tools, tools) == (400, "tools")


@pytest.mark.parametrize(
    "bad",
    [
        "f",
        {"type": "tool", "function": {"name": "f"}},
        {"function": {"name": "f"}},
        {"type": "function"},
        {"type": "function", "function": "f"},
        {"type": "function", "function": {}},
        {"type": "function", "function": {"name": 5}},
        {"type": "function", "function": {"name": ""}},
    ],
)
def test_a_tool_that_is_not_a_named_function_names_its_index(bad: Any) -> None:
    assert refused(parse_tools, [TOOL_F, bad]) == (400, "tools[1]")
    assert refused(parse_tools, [bad]) == (400, "tools[0]")


@pytest.mark.parametrize("parameters", ["x", [], 1])
def test_tool_parameters_must_be_an_object(parameters: Any) -> None:
    tool = {"type": "function", "function": {"name": "h", "parameters": parameters}}
    assert refused(parse_tools, [TOOL_F, tool]) == (400, "tools[1].function.parameters")


# --- parse_tool_choice --------------------------------------------------------------------
@pytest.mark.parametrize("choice", ["none", "auto", "required"])
def test_the_string_tool_choices(choice: str) -> None:
    assert parse_tool_choice(choice, [TOOL_F]) == choice


@pytest.mark.parametrize("choice", ["none", "auto"])
def test_none_and_auto_need_no_tools(choice: str) -> None:
    assert parse_tool_choice(choice, []) == choice


def test_required_needs_tools() -> None:
    assert refused(parse_tool_choice, "required", []) == (400, "tool_choice")


@pytest.mark.parametrize("choice", ["any", "", "f"])
def test_other_strings_are_refused(choice: str) -> None:
    assert refused(parse_tool_choice, choice, [TOOL_F]) == (400, "tool_choice")


def test_a_named_tool_choice_is_normalised() -> None:
    choice = {"type": "function", "function": {"name": "g", "strict": True}, "x": 1}
    assert parse_tool_choice(choice, [TOOL_F, TOOL_G]) == {
        "type": "function",
        "function": {"name": "g"},
    }
    assert parse_tool_choice({"function": {"name": "f"}}, [TOOL_F]) == {
        "type": "function",
        "function": {"name": "f"},
    }


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "function", "function": {"name": "h"}},
        {"type": "function", "function": {"name": 5}},
        {"type": "function", "function": None},
        {"type": "function"},
        5,
        True,
    ],
)
def test_a_named_choice_must_name_a_given_tool(choice: Any) -> None:
    assert refused(parse_tool_choice, choice, [TOOL_F, TOOL_G]) == (400, "tool_choice")


# --- parse_messages -----------------------------------------------------------------------
@pytest.mark.parametrize("raw", [None, [], "hi", {"role": "user", "content": "hi"}])
def test_messages_must_be_a_non_empty_list(raw: Any) -> None:
    assert refused(parse_messages, raw) == (400, "messages")


def test_every_role_becomes_its_langchain_message() -> None:
    messages = parse_messages(
        [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "no lists"},
            USER,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"x": 1}'}}],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
            {"role": "assistant", "content": "done"},
        ]
    )
    assert [type(m) for m in messages] == [
        SystemMessage,
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        AIMessage,
    ]
    assert [m.content for m in messages] == ["be brief", "no lists", "hi", "", "42", "done"]
    ai, tool, done = messages[3], messages[4], messages[5]
    assert isinstance(ai, AIMessage) and isinstance(done, AIMessage)
    assert isinstance(tool, ToolMessage)
    assert ai.tool_calls == [{"id": "c1", "name": "f", "args": {"x": 1}, "type": "tool_call"}]
    assert tool.tool_call_id == "c1"
    assert done.tool_calls == []


def test_a_message_that_is_not_an_object_names_its_index() -> None:
    assert refused(parse_messages, [USER, "hi"]) == (400, "messages[1]")


@pytest.mark.parametrize("role", ["function", None, "User"])
def test_an_unknown_role_names_the_role(role: Any) -> None:
    assert refused(parse_messages, [USER, {"role": role, "content": "x"}]) == (
        400,
        "messages[1].role",
    )


@pytest.mark.parametrize("content", ["", "   ", []])
def test_an_empty_user_message_is_refused(content: Any) -> None:
    with pytest.raises(ApiError) as info:
        parse_messages([USER, {"role": "user", "content": content}])
    assert (info.value.status, info.value.param) == (400, "messages[1].content")
    assert info.value.message == "messages[1].content is empty."


@pytest.mark.parametrize("role", ["system", "developer", "user", "tool"])
def test_only_an_assistant_message_may_have_no_content(role: str) -> None:
    item = {"role": role, "content": None, "tool_call_id": "c1"}
    with pytest.raises(ApiError) as info:
        parse_messages([USER, item])
    assert (info.value.status, info.value.param) == (400, "messages[1].content")
    assert info.value.message == "messages[1].content must be a string or a list of text parts."


@pytest.mark.parametrize("call_id", [None, "", 5])
def test_a_tool_message_needs_its_call_id(call_id: Any) -> None:
    item = {"role": "tool", "content": "42", "tool_call_id": call_id}
    assert refused(parse_messages, [USER, item]) == (400, "messages[1].tool_call_id")


def test_a_conversation_needs_a_user_message() -> None:
    raw = [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]
    assert refused(parse_messages, raw) == (400, "messages")


def test_a_bad_tool_call_names_its_message_and_call() -> None:
    item = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f"}}, 5]}
    assert refused(parse_messages, [USER, item]) == (400, "messages[1].tool_calls[1]")


# --- text_content -------------------------------------------------------------------------
def test_text_content_forms() -> None:
    assert text_content("abc", "w") == "abc"
    assert text_content("abc", "w", optional=True) == "abc"
    assert text_content("", "w") == ""
    assert text_content(None, "w", optional=True) == ""
    parts = [{"type": "text", "text": "ab"}, {"type": "text"}, {"type": "text", "text": 5}]
    assert text_content(parts, "w") == "ab5"
    assert text_content([], "w") == ""


@pytest.mark.parametrize("content", [None, 5, {"type": "text", "text": "a"}])
def test_other_content_is_refused_naming_the_field(content: Any) -> None:
    with pytest.raises(ApiError) as info:
        text_content(content, "w")
    assert (info.value.status, info.value.param) == (400, "w")
    assert info.value.message == "w must be a string or a list of text parts."


def test_a_part_that_is_not_text_names_its_index_and_kind() -> None:
    text = {"type": "text", "text": "a"}
    with pytest.raises(ApiError) as info:
        text_content([text, {"type": "image_url", "image_url": {}}], "w")
    assert (info.value.status, info.value.param) == (400, "w[1]")
    assert info.value.message == "w[1] is a 'image_url' part; only text is supported."
    with pytest.raises(ApiError) as info:
        text_content([text, text, 7], "w")
    assert (info.value.status, info.value.param) == (400, "w[2]")
    assert info.value.message == "w[2] is a 'int' part; only text is supported."
    assert refused(text_content, [{"text": "a"}], "w") == (400, "w[0]")


# --- tool_calls_of ------------------------------------------------------------------------
def test_no_tool_calls() -> None:
    assert tool_calls_of({}, "m") == []
    assert tool_calls_of({"tool_calls": None}, "m") == []
    assert tool_calls_of({"tool_calls": []}, "m") == []


def test_tool_calls_keep_their_ids_or_get_one_by_index() -> None:
    calls = [
        {"id": "abc", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"function": {"name": "g"}},
        {"id": "", "function": {"name": "h", "arguments": ""}},
    ]
    assert tool_calls_of({"tool_calls": calls}, "m") == [
        {"id": "abc", "name": "f", "args": {"x": 1}},
        {"id": "call_1", "name": "g", "args": {}},
        {"id": "call_2", "name": "h", "args": {}},
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"function": {"name": "f", "arguments": "{bad"}},
        {"function": {"name": "f", "arguments": "[1]"}},
        {"function": {"name": "f", "arguments": 5}},
        {"function": {"name": 5, "arguments": "{}"}},
        {"function": {"arguments": "{}"}},
        {"function": "f"},
        {"id": "c"},
        5,
    ],
)
def test_a_tool_call_needs_a_name_and_object_arguments(bad: Any) -> None:
    good = {"id": "c0", "function": {"name": "f"}}
    assert refused(tool_calls_of, {"tool_calls": [good, bad]}, "m") == (400, "m.tool_calls[1]")
