"""What a routing policy is: the part of a graph that decides which model to call next and when
an answer is good enough. Each technique's policy lives beside its graph in ``graphs/<id>.py``;
this module holds the shared vocabulary (:class:`Choice`, :class:`Policy`) and the small facts
policies read from the state (which models were tried, which answered, what a call may cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from routegraph.core.context import RouteContext
from routegraph.core.state import Attempt, RouteState
from routegraph.nodes.resources import Toolkit


@dataclass
class Choice:
    """A route step's outcome: a model to call, or None to stop."""

    model: str | None
    action: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    router: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    """Candidate -> the router model column that scored it (see ``RouterHandle.columns``)."""
    ood: dict[str, Any] | None = None
    """How unlike the router's training data the query is, and what the router fell back to
    (``RouterHandle.novelty``); None for routers that cannot tell."""


class Policy(Protocol):
    name: str

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice: ...

    def accept(
        self, state: RouteState, ctx: RouteContext, attempt: Attempt
    ) -> tuple[bool, str]: ...


def tried(state: RouteState) -> list[str]:
    """Catalog names already called in this run (including unavailable ones)."""
    return [a["model"] for a in state.get("attempts", [])]


def answered(state: RouteState) -> list[Attempt]:
    return [a for a in state.get("attempts", []) if a.get("source") != "unavailable"]


def approx_tokens(text: str) -> int:
    """Planning estimate only (before a call); real costs always use reported usage."""
    return max(1, len(text) // 4)


def expected_cost(kit: Toolkit, ctx: RouteContext, name: str, query: str) -> float:
    spec = kit.catalog_for(ctx).get(name)
    return spec.cost(approx_tokens(query), ctx.max_tokens // 2)


AUTO_PRICE_SHARE = 0.25
"""With ``cost_weight`` unset, the quality points the priciest candidate's expected call costs
in planning (the rest in proportion to their expected price; free models cost nothing)."""


def planning_costs(
    kit: Toolkit,
    ctx: RouteContext,
    models: list[str],
    query: str,
    usd: dict[str, float] | None = None,
) -> tuple[dict[str, float], str]:
    """Each model's expected cost of answering ``query`` in quality points, and how it was
    weighed: ``ctx.cost_weight`` x USD per 1k queries, or (``cost_weight`` None) relative to
    the priciest candidate (:data:`AUTO_PRICE_SHARE`). Why relative by default: prices differ
    by orders of magnitude between pools, while "a paid model must earn its price over a free
    one" holds for every pool; with no weight at all a free model's confident answer was
    followed by a paid call that gained a few points. ``usd``: the expected USD per model when
    the caller already has them."""
    if usd is None:
        usd = {m: expected_cost(kit, ctx, m, query) for m in models}
    if ctx.cost_weight is not None:
        return {m: ctx.cost_weight * 1000 * c for m, c in usd.items()}, (
            f"{ctx.cost_weight} x cost per 1k queries"
        )
    top = max(usd.values(), default=0.0)
    if top <= 0:
        return dict.fromkeys(usd, 0.0), "all candidates free"
    return {m: AUTO_PRICE_SHARE * c / top for m, c in usd.items()}, (
        f"cost relative to the priciest candidate ({AUTO_PRICE_SHARE} points at its price)"
    )


def router_threshold(state: RouteState, ctx: RouteContext, router: Any = None) -> tuple[float, str]:
    """This turn's threshold on P(strong needed), and why when it is not ``ctx.threshold``.

    With ``ctx.target`` the threshold comes from the router's stored calibration
    (``router.target_threshold``), guaranteed when ``ctx.target_confidence`` is set. With
    ``follow_up="sticky"``, a follow-up to a turn that a stronger model answered stays on
    the strong model unless the router is confident the follow-up is easy: the threshold is
    halved for that turn.
    """
    threshold, why = ctx.threshold, ""
    if ctx.target is not None and router is not None:
        threshold, source = router.target_threshold(ctx.target, ctx.target_confidence)
        why = f" ({source})"
    history = state.get("history", [])
    if ctx.follow_up == "sticky" and history and history[-1].get("strong"):
        previous = history[-1].get("chosen_model")
        return threshold / 2, f"{why} (sticky follow-up after {previous}: threshold halved)"
    return threshold, why
