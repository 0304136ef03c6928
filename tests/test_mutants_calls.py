"""One model call's rules (``nodes/calls.py``), pinned on both sides of each boundary.

Written for the mutation run on ``nodes/calls.py`` (``mutation/calls.toml``): the backoff
schedule and its cap, which tool choices force a call, the window fit and its margin, the
budget check (a worst case exactly at the budget is called), retries (how many tries, what is
waited, which faults end at once), a replayed answer's recorded cost, and how failures read.
Models are fakes (branch logic only); every expected value is worked out by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.context import RouteContext
from routegraph.core.providers.result import chat_result
from routegraph.nodes import calls
from routegraph.nodes.budget import worst_case_cost
from routegraph.nodes.calls import (
    WINDOW_MARGIN_TOKENS,
    CallResult,
    backoff_s,
    call_model,
    fit_window,
    forces_a_tool,
    invoke_with_retries,
)
from routegraph.nodes.health import HEALTH, Fault
from routegraph.nodes.resources import Toolkit
from routegraph.nodes.turns import message_tokens
from tests.fakes import ScriptedChatModel

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
QUESTION = [HumanMessage("What is the capital of France?")]


@pytest.fixture(autouse=True)
def clean_board(monkeypatch: pytest.MonkeyPatch) -> Any:
    waited: list[float] = []
    monkeypatch.setattr(calls, "sleep", waited.append)
    HEALTH.reset()
    yield waited
    HEALTH.reset()


# --- backoff and forced tools ---------------------------------------------------------------
def test_backoff_doubles_from_half_a_second_up_to_four_and_a_server_hint_wins() -> None:
    plain = Fault("connection", "refused")
    assert [backoff_s(r, plain) for r in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff_s(1, Fault("rate_limited", "slow down", retry_after_s=7.0)) == 7.0
    assert backoff_s(3, Fault("rate_limited", "slow down", retry_after_s=0.0)) == 0.0


@pytest.mark.parametrize(
    ("tools", "choice", "forced"),
    [
        ([TOOL], "required", True),
        ([TOOL], "any", True),
        ([TOOL], {"type": "function", "function": {"name": "lookup"}}, True),
        ([TOOL], "auto", False),
        ([TOOL], "none", False),
        ([TOOL], None, False),
        ([], "required", False),
    ],
)
def test_which_tool_choices_force_a_tool_call(tools: list[Any], choice: Any, forced: bool) -> None:
    assert forces_a_tool(tools, choice) is forced


# --- the window ------------------------------------------------------------------------------
def test_a_prompt_that_fits_exactly_is_kept_whole_and_one_token_less_trims_it() -> None:
    prompt = [SystemMessage("Be brief."), HumanMessage("Hello there."),
              AIMessage("Hi."), HumanMessage("What is 2 + 2?")]  # fmt: skip
    need = message_tokens(prompt)
    answer = 10
    assert WINDOW_MARGIN_TOKENS == 16  # chatml's template tokens (9) and rounding
    exact = fit_window(prompt, need + answer + 16, answer)
    assert exact == prompt
    trimmed = fit_window(prompt, need + answer + 15, answer)
    assert trimmed is not None and len(trimmed) < len(prompt)
    assert trimmed[-1].content == "What is 2 + 2?"
    assert fit_window(prompt, answer + 16, answer) is None  # no room at all
    assert fit_window(prompt, answer + 17, answer) is None  # too little


# --- CallResult ------------------------------------------------------------------------------
def test_a_call_result_reads_its_failures_once_each_and_says_where_the_answer_came_from() -> None:
    result = CallResult(requested="a")
    assert (result.ok, result.source, result.why_unavailable()) == (False, "unavailable",
                                                                     "unavailable")  # fmt: skip
    result.record("a", Fault("unavailable", "no key"))
    result.record("b", Fault("rate_limited", "429", retry_after_s=3.0), attempt=2)
    result.record("b", Fault("rate_limited", "429", retry_after_s=3.0), attempt=3)
    assert result.failures == ["a: no key", "b: rate_limited (429)"]
    assert result.why_unavailable() == "a: no key; b: rate_limited (429)"
    assert result.faults[0] == {"model": "a", "fault": "unavailable", "detail": "no key", "try": 1}
    assert result.faults[2]["try"] == 3 and result.faults[2]["retry_after_s"] == 3.0
    assert result.fault_kinds == ["unavailable", "rate_limited", "rate_limited"]
    result.reply = AIMessage("x", response_metadata={"source": "recorded"})
    result.input_tokens, result.output_tokens = 7, 5
    assert (result.ok, result.source, result.tokens) == (True, "recorded", 12)
    result.reply = AIMessage("x")
    assert result.source == "live"
    assert not result.is_local
    result.spec = ModelSpec("s", "fake", "s", "local", 0.0, 0.0)
    assert result.is_local
    result.spec = ModelSpec("c", "fake", "c", "cloud", 0.0, 0.0)
    assert not result.is_local


# --- retries -------------------------------------------------------------------------------------
class Flaky(ScriptedChatModel):
    """Raises ``error`` for the first ``failures`` calls, then answers."""

    failures: int = 0
    error: Any = None

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return chat_result("ok", 10, 5, {"source": "live"})


def test_retries_try_once_more_than_call_retries_and_wait_the_backoff(
    clean_board: list[float],
) -> None:
    model = Flaky(answers=["ok"], failures=2, error=ConnectionError("refused"))
    result = CallResult(requested="m")
    assert invoke_with_retries(model, QUESTION, "m", "k1", 2, result) is not None
    assert model.calls == 3 and clean_board == [0.5, 1.0]
    assert [f["try"] for f in result.faults] == [1, 2]
    HEALTH.reset()
    clean_board.clear()
    short = Flaky(answers=["ok"], failures=2, error=ConnectionError("refused"))
    assert invoke_with_retries(short, QUESTION, "m", "k2", 1, CallResult("m")) is None
    assert short.calls == 2 and clean_board == [0.5]


def test_a_deterministic_model_is_not_asked_again_for_a_malformed_reply(
    clean_board: list[float],
) -> None:
    """At temperature 0 the embedded model repeats its broken tool-call JSON: no retry; a
    malformed reply of any other model is still retried (a server may have cut it)."""
    broken = json.JSONDecodeError("Invalid control character", '{"a": "b', 8)
    same = Flaky(answers=["ok"], failures=1, error=broken)
    result = CallResult(requested="m")
    assert invoke_with_retries(same, QUESTION, "m", "k6", 2, result, deterministic=True) is None
    assert same.calls == 1 and result.fault_kinds == ["malformed"] and clean_board == []
    other = Flaky(answers=["ok"], failures=1, error=broken)
    assert invoke_with_retries(other, QUESTION, "m", "k7", 2, CallResult("m")) is not None
    assert other.calls == 2
    refused = Flaky(answers=["ok"], failures=1, error=ConnectionError("refused"))
    assert invoke_with_retries(refused, QUESTION, "m", "k8", 2, CallResult("m"), True) is not None


def test_a_fault_that_is_not_transient_is_not_retried(clean_board: list[float]) -> None:
    model = Flaky(answers=["ok"], failures=1, error=TimeoutError("read timed out"))
    result = CallResult(requested="m")
    assert invoke_with_retries(model, QUESTION, "m", "k3", 3, result) is None
    assert model.calls == 1 and clean_board == [] and result.fault_kinds == ["timeout"]


# --- call_model: budget, recorded cost, forced tools ------------------------------------------
def kit_with(model: Any, spec: ModelSpec) -> Toolkit:
    return Toolkit(models={spec.name: model}, catalog=Catalog({spec.name: spec}, "test"))


PRICED = ModelSpec("priced", "fake", "priced", "cloud", 1.0, 2.0)


def test_a_worst_case_exactly_at_the_budget_is_called_and_a_cent_over_is_not() -> None:
    ctx = RouteContext(max_tokens=64)
    worst = worst_case_cost(PRICED, QUESTION, 64, ())
    kit = kit_with(ScriptedChatModel(answers=["ok"]), PRICED)
    assert call_model(kit, ctx, "priced", QUESTION, budget_left=worst).ok
    over = call_model(kit, ctx, "priced", QUESTION, budget_left=worst * 0.99)
    assert not over.ok and over.fault_kinds == ["budget"]
    assert over.faults[0]["detail"].startswith(f"could cost up to ${worst:.6f}")


def test_a_replayed_answer_costs_what_the_data_recorded_else_usage_times_price() -> None:
    class Replayed(ScriptedChatModel):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            return chat_result("ok", 100, 50, {"source": "recorded", "recorded_cost_usd": 0.25})

    ctx = RouteContext()
    replayed = call_model(kit_with(Replayed(answers=["ok"]), PRICED), ctx, "priced", QUESTION)
    assert replayed.cost_usd == 0.25 and replayed.source == "recorded"
    live = call_model(kit_with(ScriptedChatModel(answers=["ok"]), PRICED), ctx, "priced",
                      QUESTION)  # fmt: skip
    assert live.cost_usd == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6)
    assert (live.input_tokens, live.output_tokens) == (100, 50)


def test_a_forced_tool_call_answered_in_plain_text_is_a_failure() -> None:
    class Binds(ScriptedChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    class Calls(Binds):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            call = {"name": "lookup", "args": {}, "id": "c1", "type": "tool_call"}
            message = AIMessage("", tool_calls=[call])
            return ChatResult(generations=[ChatGeneration(message=message)])

    ctx = RouteContext()
    plain = call_model(kit_with(Binds(answers=["Paris"]), PRICED), ctx, "priced", QUESTION,
                       tools=[TOOL], tool_choice="required")  # fmt: skip
    assert not plain.ok and plain.fault_kinds == ["tool_choice"]
    auto = call_model(kit_with(Binds(answers=["Paris"]), PRICED), ctx, "priced", QUESTION,
                      tools=[TOOL], tool_choice="auto")  # fmt: skip
    assert auto.ok and auto.notes == []
    called = call_model(kit_with(Calls(answers=[""]), PRICED), ctx, "priced", QUESTION,
                        tools=[TOOL], tool_choice="required")  # fmt: skip
    assert called.ok and called.reply is not None and called.reply.tool_calls[0]["id"] == "c1"


def test_a_model_that_cannot_take_tools_answers_without_them_and_says_so() -> None:
    ctx = RouteContext()
    result = call_model(kit_with(ScriptedChatModel(answers=["Paris"]), PRICED), ctx, "priced",
                        QUESTION, tools=[TOOL], tool_choice="auto")  # fmt: skip
    assert result.ok
    assert result.notes == ["scripted cannot call tools; answered without them"]


def test_a_retry_after_of_exactly_five_seconds_is_waited_out_and_a_longer_one_is_not(
    clean_board: list[float],
) -> None:
    class Response:
        def __init__(self, seconds: str) -> None:
            self.headers = {"retry-after": seconds}

    class RateLimitError(Exception):
        def __init__(self, seconds: str) -> None:
            super().__init__("429 slow down")
            self.response = Response(seconds)

    five = Flaky(answers=["ok"], failures=1, error=RateLimitError("5"))
    assert invoke_with_retries(five, QUESTION, "m", "k4", 2, CallResult("m")) is not None
    assert five.calls == 2 and clean_board == [5.0]
    HEALTH.reset()
    clean_board.clear()
    longer = Flaky(answers=["ok"], failures=1, error=RateLimitError("5.5"))
    assert invoke_with_retries(longer, QUESTION, "m", "k5", 2, CallResult("m")) is None
    assert longer.calls == 1 and clean_board == []


# --- the fallback chain: every way an option can be passed over leads to the next one --------
class Recorder(ScriptedChatModel):
    """Answers; keeps the ``stop`` each call was given; takes tools without calling them."""

    stops: list[Any] = []

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        self.stops = [*self.stops, stop]
        return super()._generate(messages, stop, run_manager, **kwargs)


def chain_kit(first: ModelSpec, second_model: Any, third_model: Any) -> Toolkit:
    """a (a provider nothing here builds) -> b (``first``) -> c (free)."""
    specs = {
        "a": ModelSpec("a", "fake", "a", "cloud", 1.0, 1.0, fallback="b"),
        "b": first,
        "c": ModelSpec("c", "fake", "c", "local", 0.0, 0.0),
    }
    return Toolkit(models={"b": second_model, "c": third_model}, catalog=Catalog(specs, "chain"))


def b_spec(**fields: Any) -> ModelSpec:
    return ModelSpec("b", "fake", "b", "cloud", 1.0, 2.0, fallback="c", **fields)


def test_an_unbuildable_entry_is_recorded_and_its_fallback_answers() -> None:
    b, c = Recorder(answers=["from b"]), Recorder(answers=["from c"])
    result = call_model(chain_kit(b_spec(), b, c), RouteContext(), "a", QUESTION)
    assert result.ok and result.reply is not None and result.reply.content == "from b"
    assert result.faults[0]["model"] == "a" and result.faults[0]["fault"] == "unavailable"
    assert c.calls == 0  # an option that answered ends the chain


def test_a_model_nothing_can_build_is_an_unavailable_result_not_an_exception() -> None:
    specs = {"a": ModelSpec("a", "fake", "a", "cloud", 1.0, 1.0)}
    result = call_model(Toolkit(catalog=Catalog(specs, "none")), RouteContext(), "a", QUESTION)
    assert not result.ok and result.fault_kinds == ["unavailable"]


def test_an_option_over_the_budget_is_passed_over_for_the_next() -> None:
    b, c = Recorder(answers=["from b"]), Recorder(answers=["from c"])
    result = call_model(chain_kit(b_spec(), b, c), RouteContext(max_tokens=64), "a", QUESTION,
                        budget_left=1e-9)  # fmt: skip
    assert result.ok and result.spec is not None and result.spec.name == "c"
    assert result.fault_kinds == ["unavailable", "budget"] and b.calls == 0


def test_an_option_cooling_down_is_passed_over_for_the_next() -> None:
    from routegraph.nodes.health import endpoint_key

    b, c = Recorder(answers=["from b"]), Recorder(answers=["from c"])
    kit = chain_kit(b_spec(), b, c)
    ctx = RouteContext()
    option = kit.resolver(ctx).resolve_all("a", kit.settings(ctx))[0]
    HEALTH.failure(endpoint_key("b", option.chat), Fault("auth", "401"), waited=False)
    result = call_model(kit, ctx, "a", QUESTION)
    assert result.ok and result.spec is not None and result.spec.name == "c"
    assert result.fault_kinds == ["unavailable", "cooling_down"] and b.calls == 0


def test_a_prompt_too_long_for_an_options_window_goes_to_the_next() -> None:
    b, c = Recorder(answers=["from b"]), Recorder(answers=["from c"])
    ctx = RouteContext(max_tokens=64)
    roomy = call_model(chain_kit(b_spec(context_window=4096), b, c), ctx, "a", QUESTION)
    assert roomy.ok and roomy.spec is not None and roomy.spec.name == "b"
    need = message_tokens(QUESTION)
    tight = call_model(chain_kit(b_spec(context_window=64 + 16 + need - 1), b, c), ctx, "a",
                       [HumanMessage("An earlier question."), AIMessage("An earlier answer."),
                        *QUESTION])  # fmt: skip
    assert tight.ok and tight.spec is not None and tight.spec.name == "c"
    assert tight.fault_kinds == ["unavailable", "context_length"]
    assert tight.faults[1]["detail"] == (
        f"the newest message alone is {need} tokens; the model takes {64 + 16 + need - 1} "
        "with 64 kept for the answer"
    )


def test_a_forced_tool_call_answered_in_text_goes_to_the_next_option() -> None:
    class Calls(Recorder):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            call = {"name": "lookup", "args": {}, "id": "c1", "type": "tool_call"}
            return ChatResult(
                generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))]
            )

    b, c = Recorder(answers=["Paris"]), Calls(answers=[""])
    result = call_model(chain_kit(b_spec(), b, c), RouteContext(), "a", QUESTION, tools=[TOOL],
                        tool_choice="required")  # fmt: skip
    assert result.ok and result.spec is not None and result.spec.name == "c"
    assert result.faults[1]["fault"] == "tool_choice"
    assert result.faults[1]["detail"].endswith("requires one (ignored)")


def test_stop_sequences_reach_the_model_only_when_asked_for() -> None:
    b, c = Recorder(answers=["x"]), Recorder(answers=["y"])
    call_model(chain_kit(b_spec(), b, c), RouteContext(stop=["END"]), "a", QUESTION)
    call_model(chain_kit(b_spec(), b, c), RouteContext(), "a", QUESTION)
    assert b.stops == [["END"], None]


def test_a_failed_call_costs_nothing_and_a_reply_without_usage_counts_no_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = CallResult(requested="m")
    assert (empty.input_tokens, empty.output_tokens, empty.cost_usd, empty.latency_s) == (
        0, 0, 0.0, 0.0)  # fmt: skip

    class Bare(ScriptedChatModel):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            return ChatResult(generations=[ChatGeneration(message=AIMessage("ok"))])

    class Clock:
        ticks = iter([10.0, 10.123456789])

        @classmethod
        def perf_counter(cls) -> float:
            return next(cls.ticks)

    monkeypatch.setattr(calls, "time", Clock)
    result = call_model(kit_with(Bare(answers=["ok"]), PRICED), RouteContext(), "priced",
                        QUESTION)  # fmt: skip
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (0, 0, 0.0)
    assert result.latency_s == 0.1235


def test_an_option_whose_call_fails_is_passed_over_for_the_next() -> None:
    from tests.fakes import FailingChatModel

    c = Recorder(answers=["from c"])
    result = call_model(chain_kit(b_spec(), FailingChatModel(), c), RouteContext(call_retries=0),
                        "a", QUESTION)  # fmt: skip
    assert result.ok and result.spec is not None and result.spec.name == "c"
    assert result.fault_kinds == ["unavailable", "connection"]
