"""Per-run settings, shown by LangGraph Studio as an editable form.

Every routing graph takes this dataclass as its ``context_schema``. Field descriptions live in
``metadata["description"]`` so Studio and ``langgraph dev`` assistants show them, and
:func:`validate_context` turns any bad value into an :class:`InvalidInputError` that names the
field and what is allowed, before any model is called.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routegraph.core.errors import InvalidInputError, check_non_negative, check_unit_interval

if TYPE_CHECKING:
    from routegraph.core.catalog import Catalog

EVALUATORS = ("logprob", "self_eval", "self_consistency", "verifier", "reference", "none")
FOLLOW_UP = ("fresh", "sticky")
ROUTERS = ("default", "heuristic", "random")
"""Router names the context takes besides a trained router's directory."""
TOOL_CHOICES = ("auto", "none", "required", "any")
LOG_MODES = ("prompt", "embedding", "off")
"""What an outcome record keeps of the user's prompt: its text, only its embedding (privacy),
or no record at all."""


def _describe(default: Any, description: str, **kwargs: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"description": description})
    return field(default=default, metadata={"description": description}, **kwargs)


@dataclass(kw_only=True)
class RouteContext:
    """Which models, router, evaluator, thresholds and limits one run uses."""

    weak_model: str = _describe(
        "smollm2-135m", "Catalog name of the cheap model (simple and hybrid graphs)."
    )
    strong_model: str = _describe(
        "cloud",
        "Catalog name of the strong model. 'cloud' is any OpenAI-compatible endpoint; offline it "
        "falls back to recorded GPT-4 answers where the prompt is a benchmark prompt.",
    )
    models: list[str] = _describe(
        ["smollm2-135m", "cloud"],
        "Candidate models, cheapest first: the tiers of a cascade, the candidates of the "
        "specialist and cascade-routing graphs.",
    )
    router: str = _describe(
        "default",
        "Router: 'default' (shipped trained router), 'heuristic' (length/keyword rule, built "
        "in), 'random', or a directory holding a trained router artifact.",
    )
    evaluator: str = _describe(
        "logprob",
        "Confidence evaluator: logprob, self_eval, self_consistency, verifier, reference, none.",
    )
    threshold: float = _describe(
        0.5, "Router threshold in [0, 1]: P(strong model needed) above it goes to the strong model."
    )
    router_columns: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "description": "Which router column scores each candidate, e.g. {'smollm2-135m': "
            "'mistralai/Mixtral-8x7B-Instruct-v0.1'}; unset candidates are matched by model id, "
            "else by price rank. Decisions show the mapping used."
        },
    )
    target: str | None = _describe(
        None,
        "A target instead of a raw threshold, resolved with the router's stored calibration: "
        "'strong_share=0.3' (share of strong-model calls), 'cost_per_1k=2.5' (USD per 1,000 "
        "queries) or 'quality_fraction=0.95' (of the strong model's quality).",
    )
    target_confidence: float | None = _describe(
        None,
        "With a target: guarantee it with this probability (e.g. 0.9) over the calibration "
        "split (quality_fraction, strong_share); None uses the calibration point estimate.",
    )
    confidence_threshold: float = _describe(
        0.8, "Accept an answer whose confidence is at least this, in [0, 1]; else escalate."
    )
    tier_thresholds: list[float] = _describe(
        [], "Cascade: per-tier confidence thresholds (empty: confidence_threshold for all)."
    )
    cost_weight: float | None = _describe(
        None,
        "Specialist / cascade routing: quality points traded per USD-per-1k-queries of "
        "expected cost (0 = pick the best predicted quality). None (default): weigh the "
        "catalog's prices relative to each other - the priciest candidate's expected call costs "
        "0.25 quality points, the others in proportion, a free model nothing - so a paid model "
        "is called only where it is expected to gain more than that.",
    )
    quality_floor: float | None = _describe(
        None,
        "Specialist: pick the cheapest model whose predicted quality reaches this, in [0, 1].",
    )
    min_gain: float = _describe(
        0.02,
        "Cascade routing: stop when no further calls are expected to add more than this to the "
        "quality of the answer, net of their weighted cost.",
    )
    evaluator_resolution: dict[str, float] = field(
        default_factory=dict,
        metadata={
            "description": "Cascade routing: per catalog model, how far the evaluator's "
            "confidence in that model's answer moves its quality estimate from the router's "
            "prior, in [0, 1] (1: take the confidence at face value, 0: the evaluator says "
            "nothing about this model's answers). Unlisted models: 1. `routegraph bench` fits "
            "it on the validation split."
        },
    )
    max_steps: int = _describe(3, "Most model calls in one run (>= 1).")
    budget_usd: float = _describe(
        1.0,
        "Most USD one run may spend, evaluator calls included: a call whose worst-case cost "
        "could overrun what is left is not made.",
    )
    max_tokens: int = _describe(256, "Most tokens a model may generate per call.")
    temperature: float = _describe(0.0, "Sampling temperature of answer generation.")
    stop: list[str] = _describe(
        [], "Stop sequences passed to whichever model answers (at most 4, OpenAI's limit)."
    )
    samples: int = _describe(3, "Self-consistency: number of extra samples compared.")
    max_rounds: int = _describe(2, "MinionS: most decompose/aggregate rounds (>= 1).")
    max_subtasks: int = _describe(4, "MinionS: most parallel worker jobs per round (>= 1).")
    seed: int = _describe(0, "Seed of the random router and of sampling.")
    tools: list[dict[str, Any]] = _describe(
        [],
        "Tools the chosen model may call, as OpenAI tool schemas ({'type': 'function', "
        "'function': {'name', 'description', 'parameters'}}); the answer then carries its "
        "tool_calls. Within a tool loop the model that asked for the tools keeps answering.",
    )
    tool_choice: str | dict[str, Any] | None = _describe(
        None, "auto, none, required, any, or a tool name; None leaves it to the model."
    )
    follow_up: str = _describe(
        "fresh",
        "How a follow-up question is routed: 'fresh' (the router judges it alone) or 'sticky' "
        "(after a turn answered by a stronger model, the follow-up stays on it unless the "
        "router is confident it is easy: P(strong) below half the threshold).",
    )
    max_input_tokens: int = _describe(
        1536,
        "Most (estimated) tokens of conversation sent to a model; the oldest turns are dropped "
        "first, the system message and the newest user message are always kept.",
    )
    call_timeout_s: float = _describe(
        30.0,
        "Seconds a network model call may wait for its reply before it is abandoned (and the "
        "next option tried); a timed-out endpoint is not retried and cools down for a while.",
    )
    call_retries: int = _describe(
        2,
        "Extra tries of a network call after a transient fault (connection, HTTP 429 / 5xx, a "
        "malformed or cut reply), with exponential backoff; then the next option is tried.",
    )
    outcome_log: str = _describe(
        "prompt",
        "What the outcome log (kept where the graph has a store: serve --db, chat, langgraph "
        "dev) records of each request: 'prompt' (its text), 'embedding' (only its vector, for "
        "privacy) or 'off' (no record).",
    )
    explore: float = _describe(
        0.0,
        "Share of requests, in [0, 1], that also ask one other candidate model after the "
        "answer is chosen (only if its worst-case cost fits the budget left), so the outcome "
        "log learns about models the router would not have called; each call's propensity is "
        "logged. The user still gets the chosen answer.",
    )
    catalog_path: str | None = _describe(
        None, "Catalog TOML to use instead of the packaged one (or $ROUTEGRAPH_CATALOG)."
    )


def _refuse_unknown_settings(init: Any) -> Any:
    """Wrap the dataclass ``__init__`` so an unknown (misspelt) setting is an InvalidInputError
    naming it and the known ones: LangGraph builds the context with ``RouteContext(**dict)``
    itself, before any node could check it."""

    @functools.wraps(init)
    def checked(self: RouteContext, *args: Any, **values: Any) -> None:
        known = {f.name for f in fields(RouteContext)}
        unknown = set(values) - known
        if unknown:
            raise InvalidInputError("context", f"unknown setting(s) {sorted(unknown)}", known)
        init(self, *args, **values)

    return checked


RouteContext.__init__ = _refuse_unknown_settings(RouteContext.__init__)  # type: ignore[method-assign]


def validate_context(ctx: RouteContext, catalog: Catalog | None = None) -> RouteContext:
    """Check every field; raise InvalidInputError naming the first bad one.

    Model names are checked against ``catalog`` (default: the run's catalog file).
    """
    from routegraph.core.catalog import load_catalog

    catalog = catalog or load_catalog(ctx.catalog_path)
    for name in (ctx.weak_model, ctx.strong_model):
        catalog.get(name, field="weak_model" if name == ctx.weak_model else "strong_model")
    names_allowed = "a list of catalog names, cheapest first"
    if not isinstance(ctx.models, list) or not all(isinstance(m, str) for m in ctx.models):
        raise InvalidInputError("models", f"{ctx.models!r} is not a list of names", names_allowed)
    if not ctx.models:
        raise InvalidInputError("models", "is empty", "one or more catalog names")
    if not isinstance(ctx.tier_thresholds, list):
        raise InvalidInputError(
            "tier_thresholds", f"{ctx.tier_thresholds!r} is not a list", "a list of numbers"
        )
    if not isinstance(ctx.seed, int) or isinstance(ctx.seed, bool):
        raise InvalidInputError("seed", f"{ctx.seed!r} is not an integer", "an integer")
    for name in ctx.models:
        catalog.get(name, field="models")
    if not isinstance(ctx.router, str) or (
        ctx.router not in ROUTERS and not Path(ctx.router).is_dir()
    ):
        raise InvalidInputError(
            "router",
            f"unknown router {ctx.router!r}",
            "default, heuristic, random, or a router directory",
        )
    if ctx.evaluator not in EVALUATORS:
        raise InvalidInputError("evaluator", f"unknown evaluator {ctx.evaluator!r}", EVALUATORS)
    check_unit_interval("threshold", ctx.threshold)
    check_target_setting(ctx.target, ctx.target_confidence)
    if not isinstance(ctx.router_columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in ctx.router_columns.items()
    ):
        raise InvalidInputError(
            "router_columns", f"{ctx.router_columns!r}", "a mapping of catalog name -> router model"
        )
    check_unit_interval("confidence_threshold", ctx.confidence_threshold)
    for i, value in enumerate(ctx.tier_thresholds):
        check_unit_interval(f"tier_thresholds[{i}]", value)
    if ctx.tier_thresholds and len(ctx.tier_thresholds) != len(ctx.models):
        raise InvalidInputError(
            "tier_thresholds",
            f"has {len(ctx.tier_thresholds)} values for {len(ctx.models)} models",
            "empty, or one threshold per entry of models",
        )
    if ctx.quality_floor is not None:
        check_unit_interval("quality_floor", ctx.quality_floor)
    if ctx.cost_weight is not None:
        check_non_negative("cost_weight", ctx.cost_weight)
    check_non_negative("budget_usd", ctx.budget_usd)
    check_non_negative("min_gain", ctx.min_gain)
    if not isinstance(ctx.evaluator_resolution, dict) or not all(
        isinstance(k, str) for k in ctx.evaluator_resolution
    ):
        raise InvalidInputError(
            "evaluator_resolution",
            f"{ctx.evaluator_resolution!r}",
            "a mapping of catalog name -> number in [0, 1]",
        )
    for name, value in ctx.evaluator_resolution.items():
        check_unit_interval(f"evaluator_resolution[{name!r}]", value)
    check_non_negative("temperature", ctx.temperature)
    check_positive_finite("call_timeout_s", ctx.call_timeout_s)
    if not isinstance(ctx.call_retries, int) or isinstance(ctx.call_retries, bool):
        raise InvalidInputError(
            "call_retries", f"{ctx.call_retries!r} is not an integer", "an integer in [0, 10]"
        )
    if not 0 <= ctx.call_retries <= 10:
        raise InvalidInputError(
            "call_retries", f"{ctx.call_retries} is out of range", "an integer in [0, 10]"
        )
    if ctx.outcome_log not in LOG_MODES:
        raise InvalidInputError("outcome_log", f"unknown mode {ctx.outcome_log!r}", LOG_MODES)
    check_unit_interval("explore", ctx.explore)
    if ctx.follow_up not in FOLLOW_UP:
        raise InvalidInputError("follow_up", f"unknown mode {ctx.follow_up!r}", FOLLOW_UP)
    check_tools(ctx.tools, ctx.tool_choice)
    check_stop(ctx.stop)
    for name in (
        "max_steps",
        "max_tokens",
        "samples",
        "max_rounds",
        "max_subtasks",
        "max_input_tokens",
    ):
        value = getattr(ctx, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInputError(name, f"{value!r} is not a positive integer", "an integer >= 1")
    return ctx


def check_positive_finite(field_name: str, value: object) -> float:
    """A finite number > 0 (NaN and infinity are refused: a timeout must end)."""
    allowed = "a finite number > 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(field_name, f"{value!r} is not a number", allowed)
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise InvalidInputError(field_name, f"{value!r} is out of range", allowed)
    return number


MAX_STOP = 4


def check_stop(stop: object) -> None:
    """Up to :data:`MAX_STOP` non-empty strings."""
    allowed = f"a list of at most {MAX_STOP} non-empty strings"
    if not isinstance(stop, list) or len(stop) > MAX_STOP:
        raise InvalidInputError("stop", f"{stop!r}", allowed)
    if not all(isinstance(s, str) and s for s in stop):
        raise InvalidInputError("stop", f"{stop!r} holds a non-string or empty entry", allowed)


def check_tools(tools: object, tool_choice: object) -> None:
    """Tools must be OpenAI function schemas with names; tool_choice one of them or a mode."""
    allowed = "a list of {'type': 'function', 'function': {'name': ..., 'parameters': {...}}}"
    if not isinstance(tools, list):
        raise InvalidInputError("tools", f"is {type(tools).__name__}", allowed)
    names = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidInputError(f"tools[{i}]", "is not an OpenAI function schema", allowed)
        names.append(function["name"])
    if tool_choice is None or tool_choice in TOOL_CHOICES or tool_choice in names:
        return
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name in names:
            return
    raise InvalidInputError(
        "tool_choice", f"{tool_choice!r} is not a mode or a tool name", (*TOOL_CHOICES, *names)
    )


def context_from_dict(
    values: dict[str, Any] | None, catalog: Catalog | None = None
) -> RouteContext:
    """Build a context from plain data (CLI flags, API payloads), rejecting unknown keys."""
    known = {f.name for f in fields(RouteContext)}
    values = dict(values or {})
    unknown = set(values) - known
    if unknown:
        raise InvalidInputError("context", f"unknown setting(s) {sorted(unknown)}", known)
    return validate_context(RouteContext(**values), catalog)


TARGET_KINDS = ("strong_share", "cost_per_1k", "quality_fraction")


def check_target_setting(target: str | None, confidence: float | None) -> None:
    """``target`` is KIND=NUMBER with a known kind; ``target_confidence`` in (0, 1) and only
    with a target (ranges per kind are checked when the router resolves it)."""
    allowed = [f"{k}=<number>" for k in TARGET_KINDS]
    if target is not None:
        kind, sep, raw = str(target).partition("=")
        try:
            float(raw)
        except ValueError:
            sep = ""
        if not sep or kind.strip() not in TARGET_KINDS:
            raise InvalidInputError("target", f"{target!r} is not KIND=NUMBER", allowed)
    if confidence is not None:
        if target is None:
            raise InvalidInputError("target_confidence", "is set without a target", allowed)
        if not isinstance(confidence, int | float) or not 0.0 < float(confidence) < 1.0:
            raise InvalidInputError(
                "target_confidence", f"{confidence!r} is outside (0, 1)", "e.g. 0.9"
            )


def tier_threshold(ctx: RouteContext, tier_index: int) -> float:
    """The confidence a cascade tier's answer needs to be accepted."""
    if ctx.tier_thresholds and tier_index < len(ctx.tier_thresholds):
        return ctx.tier_thresholds[tier_index]
    return ctx.confidence_threshold
