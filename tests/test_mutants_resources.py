"""What nodes need at run time (``nodes/resources.py``): overrides, the context, the query.

Written for the mutation run on ``nodes/resources.py`` (``mutation/resources.toml``): a given
catalog, router, router handle or evaluator wins over the context's, one resolver per catalog file,
the run's context from nothing, a dict or a context (checked against the toolkit's catalog), the
user's query (the last user message; text parts only, by name), and what a router scores (a
follow-up of at most 12 words after the previous user message, never an assistant's). Written before
the run, which applied every mutant; ``test_text_parts_are_read_from_the_last_user_message`` was
added after it for its two survivors and checked by applying each of them by hand. Models and
routers are fakes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from routegraph.core.context import RouteContext
from routegraph.core.errors import InvalidInputError
from routegraph.evaluators.self_consistency import SelfConsistency
from routegraph.nodes.resources import (
    FOLLOW_UP_WORDS,
    Toolkit,
    current_context,
    routing_query,
    user_query,
)
from routegraph.nodes.routing import RouterHandle
from routegraph.routers.heuristic import HeuristicRouter
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog

TINY = RouteContext(weak_model="small", strong_model="large", models=["small", "large"])


def _words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


# --- the toolkit -----------------------------------------------------------------------------
def test_a_given_catalog_wins_and_none_loads_the_contexts_file() -> None:
    catalog = tiny_catalog()
    assert Toolkit(catalog=catalog).catalog_for(RouteContext()) is catalog
    packaged = Toolkit().catalog_for(RouteContext())
    assert packaged is not None
    assert "smollm2-135m" in packaged.names()


def test_one_resolver_per_catalog_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kit = Toolkit(catalog=tiny_catalog())
    plain = kit.resolver(RouteContext())
    assert kit.resolver(RouteContext()) is plain  # built once
    other = kit.resolver(RouteContext(catalog_path=str(tmp_path / "a.yaml")))
    assert other is not plain
    third = kit.resolver(RouteContext(catalog_path=str(tmp_path / "b.yaml")))
    assert third is not other
    assert set(kit._resolvers) == {"", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")}


def test_a_given_router_handle_is_used_as_it_is() -> None:
    catalog = tiny_catalog()
    handle = RouterHandle("mine", HeuristicRouter(["small", "large"]), catalog, seed=5)
    assert Toolkit(router=handle, catalog=catalog).router_for(TINY, ["small", "large"]) is handle


def test_a_given_router_is_wrapped_under_its_kind_with_the_runs_seed() -> None:
    catalog = tiny_catalog()
    router = HeuristicRouter(["small", "large"])
    ctx = RouteContext(weak_model="small", strong_model="large", models=["small", "large"], seed=7)
    handle = Toolkit(router=router, catalog=catalog).router_for(ctx, ["small", "large"])
    assert isinstance(handle, RouterHandle)
    assert (handle.name, handle.router, handle.catalog, handle.seed) == (
        router.kind,
        router,
        catalog,
        7,
    )


def test_no_router_given_resolves_the_contexts_router() -> None:
    catalog = tiny_catalog()
    ctx = RouteContext(
        weak_model="small", strong_model="large", models=["small", "large"], router="random", seed=3
    )
    handle = Toolkit(catalog=catalog).router_for(ctx, ["small", "large"])
    assert (handle.name, handle.router, handle.seed) == ("random(seed=3)", None, 3)


def test_a_given_evaluator_wins_and_none_builds_the_contexts_with_its_samples() -> None:
    chat = ScriptedChatModel(answers=["yes"])
    table = TableEvaluator({})
    assert Toolkit(evaluator=table).evaluator_for(RouteContext(), chat) is table
    ctx = RouteContext(evaluator="self_consistency", samples=5)
    built = Toolkit().evaluator_for(ctx, chat)
    assert isinstance(built, SelfConsistency)
    assert built.samples == 5


def test_settings_come_from_the_context() -> None:
    ctx = RouteContext(max_tokens=64, temperature=0.5, seed=9, call_timeout_s=12.0)
    settings = Toolkit().settings(ctx)
    assert (settings.max_tokens, settings.temperature, settings.seed, settings.timeout_s) == (
        64,
        0.5,
        9,
        12.0,
    )


# --- the run's context -----------------------------------------------------------------------
def test_no_runtime_gives_the_default_context() -> None:
    assert current_context(None) == RouteContext()
    assert current_context(SimpleNamespace(context=None)) == RouteContext()  # type: ignore[arg-type]


def test_a_dict_or_a_context_is_checked_against_the_toolkits_catalog() -> None:
    kit = Toolkit(catalog=tiny_catalog())
    as_dict = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
    assert current_context(SimpleNamespace(context=as_dict), kit) == TINY  # type: ignore[arg-type]
    assert current_context(SimpleNamespace(context=TINY), kit) == TINY  # type: ignore[arg-type]
    # the packaged catalog has no model called "small"
    with pytest.raises(InvalidInputError, match="weak_model"):
        current_context(SimpleNamespace(context=TINY))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="weak_model"):
        current_context(SimpleNamespace(context=as_dict), Toolkit())  # type: ignore[arg-type]


def test_a_dict_context_rejects_unknown_keys() -> None:
    with pytest.raises(InvalidInputError, match="unknown setting"):
        current_context(SimpleNamespace(context={"colour": "red"}))  # type: ignore[arg-type]


# --- the user's query ------------------------------------------------------------------------
def test_the_query_is_the_last_user_message_not_the_assistants() -> None:
    messages = [
        SystemMessage("Be brief."),
        HumanMessage("first question"),
        AIMessage("an answer"),
        HumanMessage("second question"),
        AIMessage("another answer"),
    ]
    assert user_query(messages) == "second question"
    assert user_query(messages[:3]) == "first question"


def test_no_user_message_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="messages: has no user message"):
        user_query([SystemMessage("Be brief."), AIMessage("Hi.")])
    with pytest.raises(InvalidInputError, match="messages: has no user message"):
        user_query([])


def test_text_parts_are_joined_and_plain_strings_count_as_text() -> None:
    parts: list[Any] = [{"type": "text", "text": "What is "}, "2 + 2?"]
    assert user_query([HumanMessage(content=parts)]) == "What is 2 + 2?"


def test_text_parts_are_read_from_the_last_user_message() -> None:
    messages = [
        HumanMessage("an older question"),
        AIMessage("an answer"),
        HumanMessage(content=[{"type": "text", "text": "the newest question"}]),
    ]
    assert user_query(messages) == "the newest question"


def test_non_text_parts_are_refused_naming_every_kind() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts: list[Any] = [{"type": "text", "text": "What is this?"}, image, {"data": "x"}]
    with pytest.raises(InvalidInputError) as refused:
        user_query([HumanMessage(content=parts)])
    assert str(refused.value).startswith(
        "messages: the query has non-text content (?, image_url, text); allowed: text"
    )


def test_a_blank_query_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="query: is empty or blank"):
        user_query([HumanMessage("   ")])


# --- what a router scores --------------------------------------------------------------------
def test_a_follow_up_of_at_most_12_words_is_scored_after_the_previous_user_message() -> None:
    assert FOLLOW_UP_WORDS == 12
    twelve, thirteen = _words(12), _words(13)
    first = [HumanMessage("  Translate the poem.  "), AIMessage("Done.")]
    assert routing_query([*first, HumanMessage(twelve)]) == f"Translate the poem.\n{twelve}"
    assert routing_query([*first, HumanMessage(thirteen)]) == thirteen


def test_only_the_previous_user_message_is_added_never_an_assistants() -> None:
    messages = [
        HumanMessage("one"),
        AIMessage("reply one"),
        HumanMessage("two"),
        AIMessage("reply two"),
        HumanMessage("and three?"),
    ]
    assert routing_query(messages) == "two\nand three?"


def test_a_first_message_or_a_blank_previous_one_is_scored_alone() -> None:
    assert routing_query([HumanMessage("And in French?")]) == "And in French?"
    blank_before = [HumanMessage(content=[]), AIMessage("?"), HumanMessage("And in French?")]
    assert routing_query(blank_before) == "And in French?"
