"""Routing policies: the part of a graph that decides which model to call next and when an
answer is good enough. Each routing technique is one policy on the shared route / generate /
evaluate loop:

=================  ===========================================  ===========================
policy             next model                                   accept the answer when
=================  ===========================================  ===========================
simple             P(strong) >= threshold ? strong : weak        always (the router decided)
specialist         best predicted quality net of cost_weight    always (re-route if down)
hybrid             router on device: easy -> local, hard ->     local confidence >=
                   cloud; then escalate to cloud                confidence_threshold
cascade            the next tier in ``models``                  confidence >= tier threshold
cascade_routing    untried model with best expected gain per    confidence >=
                   cost, may skip tiers; stop when none pays    confidence_threshold
=================  ===========================================  ===========================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from nodes.resources import Toolkit
from routegraph.context import RouteContext, tier_threshold
from routegraph.state import Attempt, RouteState


@dataclass
class Choice:
    """A route step's outcome: a model to call, or None to stop."""

    model: str | None
    action: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    router: str = ""


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


class SimplePolicy:
    """RouteLLM: one threshold on P(strong model needed)."""

    name = "simple"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        if not done:
            router = kit.router_for(ctx, [ctx.weak_model, ctx.strong_model])
            p = router.strong_probability(query)
            strong = p >= ctx.threshold
            return Choice(
                ctx.strong_model if strong else ctx.weak_model,
                "route",
                f"P(strong needed)={p:.3f} {'>=' if strong else '<'} threshold {ctx.threshold}",
                {"p_strong": p},
                ctx.threshold,
                router.name,
            )
        left = [m for m in (ctx.strong_model, ctx.weak_model) if m not in done]
        if answered(state) or not left:
            return Choice(None, "stop", "no model left to try")
        return Choice(left[0], "re-route", f"{done[-1]} unavailable; trying {left[0]}")

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        return True, "the router's choice is final in simple routing"


class SpecialistPolicy:
    """N candidates scored by the router; best predicted quality net of cost, or the cheapest
    model that reaches ``quality_floor``."""

    name = "specialist"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        if answered(state):
            return Choice(None, "stop", "answered")
        router = kit.router_for(ctx, list(ctx.models))
        scores = router.scores(query, list(ctx.models))
        candidates = [m for m in ctx.models if m not in tried(state)]
        if not candidates:
            return Choice(None, "stop", "every candidate was unavailable", scores)
        costs = {m: expected_cost(kit, ctx, m, query) for m in candidates}
        if ctx.quality_floor is not None:
            good = [m for m in candidates if scores[m] >= ctx.quality_floor]
            if good:
                pick = min(good, key=lambda m: costs[m])
                reason = f"cheapest with predicted quality >= {ctx.quality_floor}"
            else:
                pick = max(candidates, key=lambda m: scores[m])
                reason = f"none reaches {ctx.quality_floor}; best predicted quality"
        else:
            value = {m: scores[m] - ctx.cost_weight * 1000 * costs[m] for m in candidates}
            pick = max(candidates, key=lambda m: value[m])
            reason = f"best predicted quality - {ctx.cost_weight} x cost per 1k queries"
        action = "route" if not tried(state) else "re-route"
        return Choice(
            pick, action, f"{reason}: {pick} ({scores[pick]:.3f})", scores, None, router.name
        )

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        return True, "the router's choice is final in specialist routing"


class HybridPolicy:
    """Hybrid LLM: the on-device router keeps easy queries local; a local answer whose
    confidence is too low escalates to the cloud model."""

    name = "hybrid"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        local, cloud = ctx.weak_model, ctx.strong_model
        if not done:
            router = kit.router_for(ctx, [local, cloud])
            p = router.strong_probability(query)
            hard = p >= ctx.threshold
            return Choice(
                cloud if hard else local,
                "route",
                f"{'hard' if hard else 'easy'} query: P(cloud needed)={p:.3f} "
                f"{'>=' if hard else '<'} {ctx.threshold}",
                {"p_strong": p},
                ctx.threshold,
                router.name,
            )
        if cloud not in done:
            return Choice(cloud, "escalate", "local answer not confident enough")
        if local not in done and not answered(state):
            return Choice(local, "re-route", "cloud model unavailable; answering locally")
        return Choice(None, "stop", "no model left to try")

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        if attempt["model"] == ctx.strong_model:
            return True, "cloud answer"
        conf = attempt.get("confidence") or 0.0
        ok = conf >= ctx.confidence_threshold
        return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} {ctx.confidence_threshold}"


class CascadePolicy:
    """FrugalGPT / AutoMix: tiers cheapest first; stop at the first confident answer."""

    name = "cascade"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        for i, model in enumerate(ctx.models):
            if model not in done:
                action = "route" if not done else "cascade"
                return Choice(
                    model,
                    action,
                    f"tier {i + 1} of {len(ctx.models)}",
                    threshold=tier_threshold(ctx, i),
                )
        return Choice(None, "stop", "last tier reached")

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        index = ctx.models.index(attempt["model"])
        if index == len(ctx.models) - 1:
            return True, "last tier"
        conf = attempt.get("confidence") or 0.0
        need = tier_threshold(ctx, index)
        ok = conf >= need
        return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} tier threshold {need}"


class CascadeRoutingPolicy:
    """Dekoninck et al.: route and cascade at every step.

    The router's predicted quality of each untried model is shifted by what earlier attempts
    showed (an answer less confident than predicted means a harder query). The expected gain of
    calling model m is P(m right) x P(best answer so far wrong); the model with the best gain net
    of ``cost_weight`` x cost is called next, tiers may be skipped, and the run stops when no
    model's net gain exceeds ``min_gain``.
    """

    name = "cascade_routing"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        router = kit.router_for(ctx, list(ctx.models))
        prior = router.scores(query, list(ctx.models))
        seen = [a for a in answered(state) if a.get("confidence") is not None]
        surprise = (
            sum((a["confidence"] or 0.0) - prior.get(a["model"], 0.5) for a in seen) / len(seen)
            if seen
            else 0.0
        )
        best = max((a["confidence"] or 0.0 for a in seen), default=0.0)
        net: dict[str, float] = {}
        for model in ctx.models:
            if model in done:
                continue
            quality = min(1.0, max(0.0, prior[model] + 0.5 * surprise))
            gain = quality * (1.0 - best)
            net[model] = gain - ctx.cost_weight * 1000 * expected_cost(kit, ctx, model, query)
        scores = {f"net_gain:{m}": v for m, v in net.items()} | prior
        if not net:
            return Choice(None, "stop", "every model was tried", scores, router=router.name)
        pick = max(net, key=lambda m: net[m])
        if net[pick] <= ctx.min_gain and answered(state):  # always answer at least once
            return Choice(
                None,
                "stop",
                f"best net gain {net[pick]:.3f} <= min_gain {ctx.min_gain}",
                scores,
                ctx.min_gain,
                router.name,
            )
        action = "route" if not done else "re-route"
        return Choice(
            pick,
            action,
            f"net expected gain {net[pick]:.3f} (best so far {best:.3f})",
            scores,
            ctx.min_gain,
            router.name,
        )

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        conf = attempt.get("confidence") or 0.0
        ok = conf >= ctx.confidence_threshold
        return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} {ctx.confidence_threshold}"
