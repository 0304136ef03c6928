"""Cascade routing (Dekoninck et al.): route and cascade at every step.

    route --(first model of the strategy with the best expected quality net of cost)-->
    generate --> evaluate --(no further call pays for itself)--> finalize
                          \\-(a further call does: re-plan with this answer's quality)--> route

At each step the policy compares whole *strategies*: the answers it already has, plus a set of
untried models still to call. A strategy's value is the expected quality of the best answer it
ends with, minus its calls' expected cost in quality points (``cost_weight`` x USD per 1k
queries, or by default relative to the priciest candidate: see ``planning_costs``). The
quality of an answer is not known before the call, so the value is an expectation over what
the evaluator will say about it; that is what lets a cheap model be tried first when its
evaluator verdict is informative (the cascade) and lets the router send a prompt straight to a
stronger model when the verdict would not change the decision (routing). The first (cheapest)
model of the best strategy is called, and the plan is redone with the evaluator's confidence in
its answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.context import RouteContext
from routegraph.core.state import Attempt, RouteState
from routegraph.graphs.builder import build_loop_graph
from routegraph.nodes.policy import Choice, answered, planning_costs, tried
from routegraph.nodes.resources import Toolkit

MAX_ENUMERATED = 12
"""Untried models beyond this many are planned greedily (strategies of one model each):
the number of strategies grows as 2**n."""


def posterior_quality(prior: float, confidence: float, resolution: float) -> float:
    """Quality estimate of an answered model: the router's prior moved ``resolution`` of the
    way to the evaluator's confidence (1: the confidence alone, 0: the prior alone)."""
    return prior + resolution * (confidence - prior)


def outcomes(prior: float, resolution: float) -> list[tuple[float, float]]:
    """(estimate, probability) of the quality estimate a model will have once it answered.

    Before the call the evaluator's verdict is unknown; if the evaluator is calibrated it says
    "right" with the router's probability ``prior``, and the estimate then moves
    ``resolution`` of the way to that verdict (:func:`posterior_quality`). The mean stays
    ``prior``: calling a model never raises its *expected* quality, only the spread around it,
    and that spread is what makes trying a model before deciding worth something.
    """
    low = (1.0 - resolution) * prior
    return [(low, 1.0 - prior), (low + resolution, prior)]


def expected_best(known: float, pending: list[list[tuple[float, float]]]) -> float:
    """E[max(known, X_1, ..., X_n)] for independent discrete X_i given as (value, prob).

    One sweep over the support points in ascending order, keeping each X_i's CDF and their
    product (the CDF of the maximum): the planner calls this for every candidate group of
    every routing step, so it must not rescan every distribution at every point."""
    events = sorted((x, i, p) for i, dist in enumerate(pending) for x, p in dist)
    cdf = [0.0] * len(pending)
    zeros = len(pending)  # distributions whose CDF is still 0 at the sweep point
    product = 1.0  # product of the non-zero CDFs
    total, below, k = 0.0, 0.0, 0
    values = sorted({known, *(x for x, _, _ in events)})
    for v in values:
        while k < len(events) and events[k][0] <= v:
            _, i, p = events[k]
            k += 1
            if p <= 0.0:
                continue
            old, cdf[i] = cdf[i], cdf[i] + p
            if old == 0.0:
                zeros -= 1
                product *= cdf[i]
            else:
                product *= cdf[i] / old
        current = product if zeros == 0 and known <= v else 0.0
        total += v * (current - below)
        below = current
    return total


@dataclass(frozen=True)
class Plan:
    """The best strategy: ``models`` still to call (cheapest first, empty = stop) and its value."""

    models: tuple[str, ...]
    value: float
    stop_value: float

    @property
    def gain(self) -> float:
        return self.value - self.stop_value


def plan(
    best: float | None,
    priors: Mapping[str, float],
    costs: Mapping[str, float],
    resolution: Mapping[str, float],
    steps_left: int,
) -> Plan:
    """The strategy with the best expected final quality net of cost.

    ``best``: the best quality estimate among answers so far (None: no answer yet, so stopping
    is not a strategy). ``priors``/``costs``: each untried model's router prior and weighted
    expected cost (quality units), in the context's order (cheapest first). A strategy calls a
    set of at most ``steps_left`` untried models; its value counts all their costs, a lower
    bound of what it is worth, since after the
    first call the plan is redone and may stop early.
    """
    stop = best if best is not None else float("-inf")
    candidates = sorted(priors, key=lambda m: costs[m])  # stable: ties keep the given order
    limit = min(steps_left, len(candidates))
    if len(candidates) > MAX_ENUMERATED:
        limit = min(limit, 1)
    chosen: tuple[str, ...] = ()
    value = stop
    known = best if best is not None else 0.0
    dist = {m: outcomes(priors[m], resolution.get(m, 1.0)) for m in candidates}
    # No group can beat the expected best of calling every candidate, minus its own cost: a
    # group whose bound cannot beat the best found so far is skipped unevaluated (exact: such
    # a group could never be chosen), which spares most of the 2**n groups once calls cost.
    ceiling = expected_best(known, [dist[m] for m in candidates])
    for size in range(1, limit + 1):
        for group in combinations(candidates, size):
            cost = sum(costs[m] for m in group)
            if ceiling - cost <= value + 1e-12:
                continue
            v = expected_best(known, [dist[m] for m in group]) - cost
            if v > value + 1e-12:
                chosen, value = group, v
    return Plan(chosen, value, stop)


class CascadeRoutingPolicy:
    """Dekoninck et al.: plan over strategies at every step; call the best one's first model.

    A model's quality estimate is the router's prior before the call and
    :func:`posterior_quality` (prior and evaluator confidence, weighted by the context's
    ``evaluator_resolution``) after it. The run stops when the best strategy gains no more than
    ``min_gain`` over stopping, and the answer with the best estimate is returned.
    """

    name = "cascade_routing"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        router = kit.router_for(ctx, list(ctx.models))
        prior = router.scores(query, list(ctx.models))
        costs, _ = planning_costs(kit, ctx, list(ctx.models), query)
        scores = {**prior, **{f"cost:{m}": c for m, c in costs.items()}}
        if all(m in done for m in ctx.models):
            return Choice(None, "stop", "every model was tried", scores, router=router.name)
        estimates = quality_estimates(answered(state), ctx, prior)
        untried = [m for m in ctx.models if m not in done]
        best = max(estimates.values(), default=None)
        result = plan(
            best,
            {m: prior[m] for m in untried},
            {m: costs[m] for m in untried},
            ctx.evaluator_resolution,
            ctx.max_steps - len(state.get("attempts", [])),
        )
        scores |= {f"estimate:{m}": v for m, v in estimates.items()}
        scores["value:plan"] = result.value
        if best is not None:
            scores["value:stop"] = best
            if not result.models or result.gain <= ctx.min_gain:
                return Choice(
                    None,
                    "stop",
                    f"best plan {list(result.models)} gains {max(0.0, result.gain):.3f} <= "
                    f"min_gain {ctx.min_gain} over the best answer so far ({best:.3f})",
                    scores,
                    ctx.min_gain,
                    router.name,
                )
        pick = result.models[0]
        return Choice(
            pick,
            "route" if not done else "re-route",
            f"plan {list(result.models)}: expected quality net of cost {result.value:.3f}"
            + (f" vs {best:.3f} stopping now" if best is not None else ""),
            scores,
            ctx.min_gain,
            router.name,
            ood=router.novelty(query),
        )

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        """Accept when no further call pays for itself and this answer has the best estimate.

        The plan's inputs (router priors, weighted costs) are those the route step recorded.
        Not accepted while a further call pays; nor when an earlier answer has the better
        estimate: then the route step stops and :meth:`select` returns that earlier answer.
        Without recorded priors (e.g. a tool-loop step) ``confidence_threshold`` decides.
        """
        conf = attempt.get("confidence") or 0.0
        scores = recorded_scores(state, ctx)
        if attempt["model"] not in scores:
            ok = conf >= ctx.confidence_threshold
            return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} {ctx.confidence_threshold}"
        estimates = quality_estimates([*answered(state), attempt], ctx, scores)
        done = {*tried(state), attempt["model"]}
        untried = [m for m in ctx.models if m not in done and m in scores]
        best = max(estimates.values())
        result = plan(
            best,
            {m: scores[m] for m in untried},
            {m: scores.get(f"cost:{m}", 0.0) for m in untried},
            ctx.evaluator_resolution,
            ctx.max_steps - len(state.get("attempts", [])) - 1,
        )
        mine = estimates[attempt["model"]]
        if result.models and result.gain > ctx.min_gain:
            return False, (
                f"estimate {mine:.3f} (confidence {conf:.3f}); calling {list(result.models)} "
                f"gains {result.gain:.3f} > min_gain {ctx.min_gain}"
            )
        if mine < best:
            return False, f"estimate {mine:.3f} < an earlier answer's {best:.3f}: that one stands"
        return True, f"estimate {mine:.3f} (confidence {conf:.3f}); no further call pays"

    def select(self, state: RouteState, ctx: RouteContext) -> Attempt | None:
        """The accepted answer, else the answer with the best quality estimate."""
        attempts = answered(state)
        if not attempts:
            return None
        decisions = state.get("decisions", [])
        if decisions and decisions[-1].get("action") == "accept":
            return attempts[-1]
        estimates = quality_estimates(attempts, ctx, recorded_scores(state, ctx))
        return max(attempts, key=lambda a: (estimates[a["model"]], a["step"]))


def recorded_scores(state: RouteState, ctx: RouteContext) -> dict[str, float]:
    """The scores of this turn's latest route decision that holds the router's priors."""
    for record in reversed(state.get("decisions", [])):
        scores = record.get("scores") or {}
        if any(m in scores for m in ctx.models):
            return dict(scores)
    return {}


def quality_estimates(
    attempts: list[Attempt], ctx: RouteContext, prior: Mapping[str, float]
) -> dict[str, float]:
    """Answered model -> :func:`posterior_quality` of its answer (its confidence alone when
    there is no prior for it)."""
    out: dict[str, float] = {}
    for a in attempts:
        if a.get("source") == "unavailable":
            continue
        conf = float(a.get("confidence") or 0.0)
        p = float(prior.get(a["model"], conf))
        out[a["model"]] = posterior_quality(p, conf, ctx.evaluator_resolution.get(a["model"], 1.0))
    return out


def build_cascade_routing_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the cascade-routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(CascadeRoutingPolicy(), **overrides)


graph = build_cascade_routing_graph()
