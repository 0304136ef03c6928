"""What nodes need at run time, built once per run from the context and build-time overrides.

Graph factories accept overrides (chat models by catalog name, a router, an evaluator) so the
same graph runs on fake models in unit tests, on replayed recordings in benchmarks, and on real
providers in production. ``langgraph.json`` exposes the graphs built with no overrides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from routegraph.core.catalog import Catalog, load_catalog
from routegraph.core.context import RouteContext, context_from_dict, validate_context
from routegraph.core.errors import InvalidInputError, check_text
from routegraph.core.models import ModelResolver, ModelSettings
from routegraph.evaluators.base import Evaluator
from routegraph.evaluators.registry import make_evaluator
from routegraph.nodes.routing import RouterHandle, resolve_router
from routegraph.routers.base import Router


@dataclass
class Toolkit:
    """Build-time overrides shared by the nodes of one compiled graph."""

    models: Mapping[str, BaseChatModel] = field(default_factory=dict)
    router: Router | RouterHandle | None = None
    evaluator: Evaluator | None = None
    catalog: Catalog | None = None
    _resolvers: dict[str, ModelResolver] = field(default_factory=dict)

    def catalog_for(self, ctx: RouteContext) -> Catalog:
        return self.catalog or load_catalog(ctx.catalog_path)

    def resolver(self, ctx: RouteContext) -> ModelResolver:
        key = ctx.catalog_path or ""
        if key not in self._resolvers:
            self._resolvers[key] = ModelResolver(self.catalog_for(ctx), self.models)
        return self._resolvers[key]

    def router_for(self, ctx: RouteContext, candidates: list[str]) -> RouterHandle:
        catalog = self.catalog_for(ctx)
        if isinstance(self.router, RouterHandle):
            return self.router
        if isinstance(self.router, Router):
            return RouterHandle(self.router.kind, self.router, catalog, ctx.seed)
        return resolve_router(ctx.router, catalog, candidates, ctx.seed)

    def evaluator_for(self, ctx: RouteContext, chat: BaseChatModel) -> Evaluator:
        if self.evaluator is not None:
            return self.evaluator
        return make_evaluator(ctx.evaluator, chat, samples=ctx.samples)

    def settings(self, ctx: RouteContext) -> ModelSettings:
        return ModelSettings(
            max_tokens=ctx.max_tokens,
            temperature=ctx.temperature,
            seed=ctx.seed,
            timeout_s=ctx.call_timeout_s,
        )


def current_context(
    runtime: Runtime[RouteContext] | None, kit: Toolkit | None = None
) -> RouteContext:
    """The run's validated context (defaults when none was given, dicts coerced)."""
    raw: Any = getattr(runtime, "context", None)
    catalog = kit.catalog if kit is not None else None
    if raw is None:
        return validate_context(RouteContext(), catalog)
    if isinstance(raw, dict):
        return context_from_dict(raw, catalog)
    return validate_context(raw, catalog)


def user_query(messages: Sequence[BaseMessage]) -> str:
    """The text of the last user message; clear errors for empty or non-text input."""
    human = [m for m in messages if isinstance(m, HumanMessage)]
    if not human:
        raise InvalidInputError(
            "messages", "has no user message", "a list ending in a user message"
        )
    content = human[-1].content
    if isinstance(content, list):
        kinds = {part.get("type", "?") if isinstance(part, dict) else "text" for part in content}
        if kinds - {"text"}:
            raise InvalidInputError(
                "messages", f"the query has non-text content ({', '.join(sorted(kinds))})", "text"
            )
        text = str(human[-1].text)
    elif isinstance(content, str):
        text = content
    else:
        raise InvalidInputError("messages", f"content of type {type(content).__name__}", "text")
    return check_text("query", text)


FOLLOW_UP_WORDS = 12
"""A newest user message this short is judged together with the previous one (a follow-up
such as "and in French?" says little on its own)."""


def routing_query(messages: Sequence[BaseMessage]) -> str:
    """What a router scores: the newest user message, preceded by the previous user message
    when the newest is a short follow-up, so the router sees enough of the conversation."""
    newest = user_query(messages)
    earlier = [m for m in messages if isinstance(m, HumanMessage)][:-1]
    if earlier and len(newest.split()) <= FOLLOW_UP_WORDS:
        previous = earlier[-1].text.strip()
        if previous:
            return f"{previous}\n{newest}"
    return newest
