"""``RoutedChatModel``: a routegraph graph behind LangChain's chat-model interface.

The first part checks the door's branch logic on scripted chat models (which model answers, what
streams, what the tools and usage add up to). The ``slow`` part runs the embedded SmolLM2 on
llama.cpp: invoke, ainvoke, stream, astream and batch agree with each other, the tokens stream
one by one, and a cascade's usage is the sum of its real attempts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, Field

import routegraph
from routegraph.app.chat_model import RoutedChatModel, normalize_tool_choice
from routegraph.core.errors import InvalidInputError, NoAnswerError
from routegraph.graphs.registry import GRAPH_IDS
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle

CATALOG = tiny_catalog()
TIERS: dict[str, Any] = {
    "weak_model": "small",
    "strong_model": "large",
    "models": ["small", "large"],
    "confidence_threshold": 0.8,
}
EVENTS: list[tuple[str, str]] = []
"""Order in which scripted models produce tokens and the caller receives chunks."""


class StreamingScriptedModel(ScriptedChatModel):
    """A scripted model that streams its answer word by word (then its usage)."""

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        for i, word in enumerate(answer.split(" ")):
            EVENTS.append(("model", word))
            time.sleep(0.02)
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word if i == 0 else f" {word}")
            )
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=usage)  # type: ignore[arg-type]
        )


class ToolUsingModel(BaseChatModel):
    """Calls the first bound tool with ``args`` until it sees a tool result, then answers.

    It records what ``bind_tools`` received, so tests see what reached the chosen model.
    """

    args: dict[str, Any] = Field(default_factory=dict)
    bound: list[tuple[list[dict[str, Any]], Any]] = Field(default_factory=list)
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "tool-using-fake"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        self.bound.append((list(tools), tool_choice))
        return self.bind(tool_names=[t["function"]["name"] for t in tools])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        results = [m for m in messages if m.type == "tool"]
        names = kwargs.get("tool_names") or []
        if results or not names:
            message = AIMessage(content=f"From the tool: {results[-1].text if results else '-'}")
        else:
            call = {"name": names[0], "args": self.args, "id": f"call_{self.calls}"}
            message = AIMessage(content="", tool_calls=[call])
        message.usage_metadata = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return ChatResult(generations=[ChatGeneration(message=message)])


def routed(
    graph: str = "cascade",
    small: Any = None,
    large: Any = None,
    on_no_answer: str = "raise",
    **context: Any,
) -> Any:
    """A RoutedChatModel over the tiny catalog: small (local, free) then large (priced)."""
    models = {
        "small": small or ScriptedChatModel(answers=["a draft answer"]),
        "large": large or ScriptedChatModel(answers=["the final answer"]),
    }
    router = None if graph == "minions" else handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1))
    return RoutedChatModel(
        graph=graph,
        context={**TIERS, **context},
        models=models,
        router=router,
        evaluator=TableEvaluator({"small": 0.1, "large": 0.95}),
        catalog=CATALOG,
        on_no_answer=on_no_answer,
    )


def collect(chunks: Any) -> AIMessageChunk:
    total = None
    for chunk in chunks:
        EVENTS.append(("caller", chunk.text))
        total = chunk if total is None else total + chunk
    assert total is not None
    return total


def test_importable_from_the_package_root() -> None:
    assert routegraph.RoutedChatModel is RoutedChatModel
    assert "RoutedChatModel" in routegraph.__all__
    with pytest.raises(AttributeError, match="no attribute 'NotAThing'"):
        _ = routegraph.NotAThing  # type: ignore[attr-defined]


def test_invoke_returns_the_accepted_answer_with_usage_summed_over_attempts() -> None:
    model = routed()  # small's confidence 0.1 < 0.8: the cascade escalates to large
    reply = model.invoke("What is 2 + 2?")

    assert isinstance(reply, AIMessage)
    assert reply.text == "the final answer"
    assert reply.usage_metadata == {"input_tokens": 200, "output_tokens": 100, "total_tokens": 300}
    meta = reply.response_metadata["routegraph"]
    assert meta["chosen_model"] == "large" and meta["confidence"] == 0.95
    assert meta["path"] == ["small", "large"] and meta["steps"] == 2 and meta["escalated"]
    assert meta["cost_usd"] == pytest.approx(CATALOG.get("large").cost(100, 50))
    assert reply.response_metadata["model_name"] == "large"


def test_an_argument_the_model_does_not_take_is_named_in_a_warning() -> None:
    """LangChain models drop unknown arguments; a misspelt ``settings=`` for ``context=`` would
    silently run the defaults, so the warning names it and the arguments there are."""
    with pytest.warns(UserWarning, match=r"ignores \['settings'\].*'context'"):
        RoutedChatModel(graph="simple", settings={"max_tokens": 5})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        routed()  # known arguments only: no warning


def test_context_may_be_a_route_context() -> None:
    from routegraph.core.context import RouteContext

    model = RoutedChatModel(
        graph="simple",
        context=RouteContext(weak_model="small", strong_model="large", models=["small", "large"]),
        models={
            "small": ScriptedChatModel(answers=["ok"]),
            "large": ScriptedChatModel(answers=["x"]),
        },
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1)),
        catalog=CATALOG,
        evaluator=TableEvaluator({}),
    )
    assert model.invoke("hi").text == "ok"


def test_ainvoke_and_batch_route_each_input() -> None:
    model = routed()
    reply = asyncio.run(model.ainvoke([HumanMessage("What is 2 + 2?")]))
    assert reply.text == "the final answer"
    assert reply.response_metadata["routegraph"]["path"] == ["small", "large"]

    easy = routed("simple")  # P(strong) 0.1 < 0.5: simple routing keeps every query on small
    replies = easy.batch(["What is 2 + 2?", "Name a colour."])
    assert [r.text for r in replies] == ["a draft answer", "a draft answer"]
    assert all(r.response_metadata["routegraph"]["path"] == ["small"] for r in replies)


def test_cascade_streams_only_the_accepted_answer() -> None:
    model = routed(
        small=StreamingScriptedModel(answers=["a rejected draft"]),
        large=StreamingScriptedModel(answers=["the accepted answer"]),
    )
    chunks = list(model.stream("What is 2 + 2?"))
    total = collect(chunks)

    assert [c.text for c in chunks if c.text] == ["the accepted answer"]
    assert "draft" not in total.text
    invoked = routed().invoke("What is 2 + 2?")
    assert total.usage_metadata == invoked.usage_metadata  # both attempts, counted once
    assert total.response_metadata["routegraph"]["path"] == ["small", "large"]
    assert total.response_metadata["routegraph"]["chosen_model"] == "large"


def test_simple_routing_streams_the_chosen_models_tokens_live() -> None:
    EVENTS.clear()
    model = routed("simple", small=StreamingScriptedModel(answers=["one two three four"]))
    total = collect(model.stream("What is 2 + 2?"))

    assert total.text == "one two three four"
    assert [text for who, text in EVENTS if who == "caller" and text] == [
        "one",
        " two",
        " three",
        " four",
    ]
    # Live: the caller held the first token before the model produced its last one.
    assert EVENTS.index(("caller", "one")) < EVENTS.index(("model", "four"))
    assert total.usage_metadata == {"input_tokens": 100, "output_tokens": 50, "total_tokens": 150}
    assert total.response_metadata["routegraph"]["chosen_model"] == "small"


@pytest.mark.parametrize("graph_id", GRAPH_IDS)
def test_every_graph_streams_what_it_answers(graph_id: str) -> None:
    model = routed(graph_id, max_rounds=1, max_subtasks=1)
    invoked = model.invoke("What is 2 + 2?")
    streamed = collect(model.stream("What is 2 + 2?"))

    assert streamed.text == invoked.text and invoked.text
    assert streamed.usage_metadata == invoked.usage_metadata
    assert streamed.response_metadata["routegraph"]["graph"] == graph_id
    assert (
        streamed.response_metadata["routegraph"]["path"]
        == invoked.response_metadata["routegraph"]["path"]
    )


def test_astream_matches_stream() -> None:
    async def consume(model: Any) -> AIMessageChunk:
        total = None
        async for chunk in model.astream("What is 2 + 2?"):
            total = chunk if total is None else total + chunk
        assert total is not None
        return total

    live = asyncio.run(consume(routed("simple", small=StreamingScriptedModel(answers=["a b c"]))))
    assert live.text == "a b c" and live.usage_metadata["output_tokens"] == 50  # type: ignore[index]
    judged = asyncio.run(consume(routed(large=StreamingScriptedModel(answers=["x y"]))))
    assert judged.text == "x y"
    assert judged.response_metadata["routegraph"]["path"] == ["small", "large"]


def test_bind_tools_reach_the_chosen_model_and_its_tool_calls_come_back() -> None:
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return f"sunny in {city}"

    large = ToolUsingModel(args={"city": "Paris"})
    model = routed(large=large, threshold=0.0).bind_tools([get_weather])
    reply = model.invoke("What is the weather in Paris?")

    [(tools, choice)] = large.bound
    assert tools[0]["function"]["name"] == "get_weather"
    assert tools[0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert choice == "auto"  # OpenAI's default, said explicitly for servers that need it
    assert reply.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
    assert reply.response_metadata["routegraph"]["chosen_model"] == "large"


def test_streamed_tool_calls_add_up_to_the_invoked_ones() -> None:
    def lookup(query: str) -> str:
        """Look something up."""
        return query

    model = routed(large=ToolUsingModel(args={"query": "x"})).bind_tools([lookup])
    total = collect(model.stream("Look up x."))
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("lookup", {"query": "x"})]


def test_with_structured_output_parses_the_chosen_models_tool_call() -> None:
    class Weather(BaseModel):
        """Weather report."""

        city: str
        celsius: int

    large = ToolUsingModel(args={"city": "Paris", "celsius": 21})
    structured = routed(large=large).with_structured_output(Weather)
    report = structured.invoke("Weather in Paris?")

    assert report == Weather(city="Paris", celsius=21)
    [(_, choice)] = large.bound  # small cannot take tools: it answered text, the cascade went on
    assert choice == {"type": "function", "function": {"name": "Weather"}}  # "any", one tool


def test_create_agent_tool_loop_stays_on_the_model_that_called_the_tool() -> None:
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    ran: list[str] = []

    @tool
    def lookup(query: str) -> str:
        """Look a fact up."""
        ran.append(query)
        return "42"

    small = ScriptedChatModel(answers=["I guess 7."])  # no tools; rejected at confidence 0.1
    large = ToolUsingModel(args={"query": "answer"})
    agent = create_agent(model=routed(small=small, large=large), tools=[lookup])
    out = agent.invoke({"messages": [HumanMessage("What is the answer?")]})

    assert ran == ["answer"]  # the tool really ran, with the model's arguments
    routed_replies = [m for m in out["messages"] if isinstance(m, AIMessage)]
    assert len(routed_replies) == 2 and routed_replies[-1].text == "From the tool: 42"
    chosen = [m.response_metadata["routegraph"]["chosen_model"] for m in routed_replies]
    assert chosen == ["large", "large"]
    # The call after the tool result stayed on large: no fresh cascade from small.
    assert [m.response_metadata["routegraph"]["path"] for m in routed_replies] == [
        ["small", "large"],
        ["large"],
    ]
    assert small.calls == 1 and large.calls == 2


def test_tool_choice_spellings() -> None:
    one = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    two = one + [{"type": "function", "function": {"name": "g", "parameters": {}}}]
    named = {"type": "function", "function": {"name": "f"}}
    assert normalize_tool_choice("any", one) == named
    assert normalize_tool_choice(True, two) == "required"
    assert normalize_tool_choice("f", two) == named
    assert normalize_tool_choice("auto", two) == "auto"
    assert normalize_tool_choice(None, two) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"graph": "nope"}, "graph"),
        ({"context": {**TIERS, "threshold": 1.5}}, "threshold"),
        ({"context": {**TIERS, "colour": "blue"}}, "context"),
    ],
)
def test_bad_settings_fail_when_the_model_is_created(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        RoutedChatModel(catalog=CATALOG, **{"context": TIERS, **kwargs})
    assert exc.value.field == field


def test_bad_call_arguments_name_themselves() -> None:
    model = routed()
    with pytest.raises(InvalidInputError, match="unknown argument"):
        model.invoke("hi", colour="blue")
    with pytest.raises(InvalidInputError) as exc:
        model.invoke("hi", stop=["a", "b", "c", "d", "e"])  # OpenAI's limit is 4
    assert exc.value.field == "stop"
    with pytest.raises(InvalidInputError) as exc:
        model.bind(context={"max_steps": 0}).invoke("hi")
    assert exc.value.field == "max_steps"


class StopRecordingChatModel(ScriptedChatModel):
    """Records the stop sequences each call received, and cuts its answer at the first one."""

    seen: list[Any] = []

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.seen.append(stop)
        result = super()._generate(messages, None, run_manager, **kw)
        text = result.generations[0].message.content
        for marker in stop or []:
            text = text.split(marker)[0]
        result.generations[0].message.content = text
        return result


def test_stop_sequences_reach_the_model_that_answers() -> None:
    large = StopRecordingChatModel(answers=["first line\nsecond line"], seen=[])
    model = routed(large=large)  # small's draft is rejected (0.1): large answers
    reply = model.invoke("hi", stop=["\n"])
    assert reply.content == "first line"
    assert large.seen == [["\n"]]
    params = model._get_ls_params(stop=["\n"])
    assert params["ls_model_name"] == "routegraph-cascade" and params["ls_stop"] == ["\n"]
    assert params["ls_provider"] == "routegraph"


def test_no_answer_is_an_error_unless_asked_for_text() -> None:
    failing = {"small": FailingChatModel(), "large": FailingChatModel()}
    model = routed(small=failing["small"], large=failing["large"])
    with pytest.raises(NoAnswerError) as caught:
        model.invoke("hi")
    assert caught.value.trace["path"] == ["small", "large"]
    assert caught.value.reasons and all("not available" in r for r in caught.value.reasons)
    with pytest.raises(NoAnswerError):
        list(model.stream("hi"))
    text = routed(small=FailingChatModel(), large=FailingChatModel(), on_no_answer="text")
    assert text.invoke("hi").content.startswith("No model could answer")
    with pytest.raises(InvalidInputError) as exc:
        routed(on_no_answer="maybe")
    assert exc.value.field == "on_no_answer"


# -- the embedded SmolLM2 on llama.cpp ---------------------------------------------------------

FRANCE = "What is the capital of France?"
LOCAL = {"router": "heuristic", "max_tokens": 48}


@pytest.mark.slow
def test_local_model_invoke_stream_batch_agree(smollm2_gguf: Path, no_cloud: None) -> None:
    """simple routing with both slots on SmolLM2: every entry point gives the same answer."""
    model = RoutedChatModel(
        graph="simple",
        context={**LOCAL, "weak_model": "smollm2-135m", "strong_model": "smollm2-135m"},
    )
    invoked = model.invoke(FRANCE)
    chunks = list(model.stream(FRANCE))
    streamed = collect(chunks)

    assert "paris" in invoked.text.lower()
    assert len([c for c in chunks if c.text]) > 3  # token by token, not one block
    assert streamed.text == invoked.text
    assert streamed.usage_metadata == invoked.usage_metadata
    assert invoked.usage_metadata["input_tokens"] > 5  # type: ignore[index]
    meta = invoked.response_metadata["routegraph"]
    assert meta["chosen_model"] == meta["served_by"] == "smollm2-135m"
    assert meta["source"] == "live" and meta["cost_usd"] == 0.0
    assert streamed.response_metadata["routegraph"]["chosen_model"] == "smollm2-135m"

    async def both() -> tuple[AIMessage, AIMessageChunk]:
        reply = await model.ainvoke(FRANCE)
        total = None
        async for chunk in model.astream(FRANCE):
            total = chunk if total is None else total + chunk
        assert total is not None
        return reply, total

    areply, astreamed = asyncio.run(both())
    assert areply.text == astreamed.text == invoked.text
    assert [r.text for r in model.batch([FRANCE, FRANCE])] == [invoked.text, invoked.text]


@pytest.mark.slow
def test_local_cascade_usage_adds_up_over_real_attempts(
    smollm2_gguf: Path, no_cloud: None, tmp_path: Path
) -> None:
    """Two catalog tiers served by the same local model; tier 1 can never reach 1.0."""
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        "\n".join(
            f'[models.{name}]\nprovider = "llamacpp"\nmodel = "SmolLM2-135M-Instruct"\n'
            f'tier = "local"\ninput_price = 0.0\noutput_price = 0.0\n'
            for name in ("tier-a", "tier-b")
        )
    )
    model = RoutedChatModel(
        graph="cascade",
        context={
            **LOCAL,
            "catalog_path": str(catalog),
            "weak_model": "tier-a",
            "strong_model": "tier-b",
            "models": ["tier-a", "tier-b"],
            "confidence_threshold": 1.0,
        },
    )
    reply = model.invoke(FRANCE)
    meta = reply.response_metadata["routegraph"]

    assert meta["path"] == ["tier-a", "tier-b"] and meta["chosen_model"] == "tier-b"
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] == meta["input_tokens"] > 10
    assert usage["output_tokens"] == meta["output_tokens"] > 0
    assert usage["input_tokens"] % 2 == 0  # the same prompt, counted once per attempt


def test_local_model_binds_only_a_named_tool() -> None:
    from routegraph.core.providers.llamacpp import LlamaCppChatModel

    def lookup(query: str) -> str:
        """Look something up."""
        return query

    local = LlamaCppChatModel(model_path="unused.gguf")  # binding loads nothing
    with pytest.raises(NotImplementedError, match="only calls a named tool"):
        local.bind_tools([lookup], tool_choice="auto")
    bound = local.bind_tools([lookup], tool_choice="any")
    assert bound.kwargs["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}  # type: ignore[attr-defined]


@pytest.mark.slow
def test_local_model_with_structured_output(smollm2_gguf: Path, no_cloud: None) -> None:
    """The embedded model fills the schema under llama.cpp's JSON-schema grammar."""

    class Weather(BaseModel):
        """A weather report."""

        city: str = Field(description="the city")
        celsius: int = Field(description="temperature in degrees Celsius")

    model = RoutedChatModel(
        graph="simple",
        context={**LOCAL, "weak_model": "smollm2-135m", "strong_model": "smollm2-135m"},
    )
    out: Any = model.with_structured_output(Weather, include_raw=True).invoke(
        "It is 21 degrees Celsius in Paris today. Report the weather."
    )

    assert out["parsing_error"] is None
    assert isinstance(out["parsed"], Weather) and out["parsed"].city.strip()
    raw = out["raw"]
    assert [call["name"] for call in raw.tool_calls] == ["Weather"]
    assert raw.usage_metadata["output_tokens"] > 0
    assert raw.response_metadata["routegraph"]["chosen_model"] == "smollm2-135m"


def test_openai_compatible_chat_sends_string_content_with_tool_calls() -> None:
    """llama-cpp-python's server answers HTTP 500 to the ``null`` langchain-openai sends."""
    from langchain_core.messages import ToolMessage
    from langchain_openai import ChatOpenAI

    from routegraph.core.providers.openai_compat import OpenAICompatibleChat

    history = [
        HumanMessage("Weather in Paris?"),
        AIMessage(content="", tool_calls=[{"name": "w", "args": {"city": "Paris"}, "id": "c1"}]),
        ToolMessage("sunny", tool_call_id="c1"),
    ]
    settings: dict[str, Any] = {"model": "m", "api_key": "k", "base_url": "http://127.0.0.1:9/v1"}
    plain = ChatOpenAI(**settings)._get_request_payload(history)
    compatible = OpenAICompatibleChat(**settings)._get_request_payload(history)

    assert plain["messages"][1]["content"] is None  # what the server rejects
    assert compatible["messages"][1]["content"] == ""
    assert compatible["messages"][1]["tool_calls"] == plain["messages"][1]["tool_calls"]
    assert compatible["messages"][2] == plain["messages"][2]


def test_a_call_can_pin_one_model() -> None:
    model = routed()
    reply = model.invoke("hi", model="large")  # no routing: large answers alone
    trace = reply.response_metadata["routegraph"]
    assert trace["path"] == ["large"] and reply.content == "the final answer"
    assert model._get_ls_params(model="large")["ls_model_name"] == "large"
    with pytest.raises(InvalidInputError) as exc:
        model.invoke("hi", model="no-such-model")
    assert exc.value.field in ("weak_model", "strong_model", "models")


def test_a_forced_tool_call_answered_in_text_is_an_error() -> None:
    def lookup(query: str) -> str:
        """Look something up."""
        return query

    model = routed().bind_tools([lookup], tool_choice="lookup")  # both fakes answer in text
    with pytest.raises(NoAnswerError) as caught:
        model.invoke("find the weather")
    assert any("tool_choice" in reason for reason in caught.value.reasons)


def test_standard_constructor_parameters_take_effect_or_refuse() -> None:
    """``max_tokens=100`` reaches the run (it used to leave it at 256) and wins over the same
    setting in ``context``; an out-of-range value is refused."""
    seen: list[dict[str, Any]] = []

    class Recording(ScriptedChatModel):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> Any:  # fmt: skip
            seen.append({"stop": stop, **kwargs})
            return super()._generate(messages, stop, run_manager, **kwargs)

    model = RoutedChatModel(
        graph="simple",
        context=TIERS,
        models={"small": Recording(answers=["ok"]), "large": Recording(answers=["x"])},
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1)),
        evaluator=TableEvaluator({}),
        catalog=CATALOG,
        max_tokens=100,
        temperature=0.3,
        stop=["END"],
        timeout=7,
        max_retries=2,
    )
    assert model.invoke("hi").text == "ok"
    assert model._settings["call_timeout_s"] == 7 and model._settings["call_retries"] == 2
    (call,) = seen
    assert call["stop"] == ["END"]
    trace = model.invoke("hi").response_metadata["routegraph"]
    assert trace["chosen_model"] == "small"
    both = RoutedChatModel(graph="simple", max_tokens=100, context={**TIERS, "max_tokens": 50},
                           catalog=CATALOG)  # fmt: skip
    assert both._settings["max_tokens"] == 100
    with pytest.raises(InvalidInputError, match="call_retries"):
        RoutedChatModel(graph="simple", max_retries=50, context=TIERS, catalog=CATALOG)
