"""The one state schema every routing graph shares.

It extends LangGraph's ``MessagesState`` so any graph drops into a larger agent as a subgraph:
callers put a conversation in ``messages`` and get exactly one new ``AIMessage`` back (the
accepted answer, with the chosen model, confidence, steps and cost in ``response_metadata``).

A run is one *turn*. In a checkpointed thread (LangGraph Studio, ``langgraph dev``, a chat) the
same state carries many turns, so the per-turn keys (``attempts``, ``decisions``, ``cost_usd``,
``notes``, token counts, MinionS rounds) are reset when a run starts (the ``begin_turn`` step):
policies, ``max_steps`` and ``budget_usd`` see this turn only, and the same question asked twice
in a thread is routed the same way twice. Earlier turns stay readable in ``history``: one
:class:`TurnRecord` per finished turn, with its attempts and decisions.

``RouteInput`` and ``RouteOutput`` are the graphs' input and output schemas, so Studio's input
form asks for a conversation (and a document for MinionS), not for internal keys.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage
from langgraph.graph import MessagesState
from typing_extensions import TypedDict  # pydantic builds Studio's JSON schemas from these (3.11)

Source = Literal["live", "recorded", "unavailable"]


class Attempt(TypedDict, total=False):
    """One call of one model, with what it cost and how confident the evaluator was."""

    step: int
    model: str
    """The catalog name the route step chose."""
    served_by: str
    """The catalog name that actually answered (differs when a fallback served it)."""
    tier: str
    answer: str
    confidence: float | None
    evaluator: str
    evaluation: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    source: Source
    """'live' (a model ran now), 'recorded' (replayed benchmark answer) or 'unavailable'."""
    note: str
    faults: list[dict[str, Any]]
    """Every failed try behind this attempt: model, fault kind (timeout, connection,
    rate_limited, server_error, malformed, budget, ...), detail; empty when all went well."""
    evaluation_cost_usd: float
    """What the evaluator's own model calls cost (self_eval, self_consistency); in the run's
    ``cost_usd``, not in this attempt's ``cost_usd``."""
    tool_calls: list[dict[str, Any]]
    """The tool calls the model asked for (OpenAI / LangChain shape); absent when none."""
    explored: bool
    """An exploratory call (the ``explore`` setting): logged for learning, never the answer."""
    truncated: bool
    """The model stopped at its ``max_tokens`` (finish reason ``length``); absent otherwise."""


class RoutingDecision(TypedDict, total=False):
    """Why a model was chosen (or why the graph stopped) at one step."""

    step: int
    router: str
    scores: dict[str, float]
    threshold: float | None
    chosen_model: str | None
    action: str
    """'route', 'accept', 'escalate', 'cascade', 're-route' or 'stop'."""
    reason: str
    router_columns: dict[str, str]
    """Which of the router's trained model columns scored each candidate (catalog name ->
    router model), when a router trained on other models stands in for the run's candidates."""
    ood: dict[str, Any]
    """How unlike the router's training prompts this query is (``ood`` in [0, 1], ``distance``)
    and what the router leaned on instead (``fallback``, ``fallback_weight``; ``floor``: the
    least weight its fallback gets near such prompts): routers with a novelty guard only (the
    shipped ones)."""


class SubtaskResult(TypedDict, total=False):
    """A MinionS worker's answer to one small job."""

    round: int
    index: int
    task: str
    answer: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    source: Source


class TurnRecord(TypedDict, total=False):
    """What one finished turn did: the question, who answered, what it cost, and why."""

    turn: int
    query: str
    chosen_model: str | None
    served_by: str | None
    confidence: float | None
    steps: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    escalated: bool
    cloud_used: bool
    strong: bool
    """Whether the accepted answer came from a model above the cheapest candidate."""
    attempts: list[Attempt]
    decisions: list[RoutingDecision]


class RouteInput(MessagesState):
    """What a caller (or Studio's input form) gives a graph: the conversation."""


class MinionsInput(MessagesState):
    """MinionS input: the conversation, plus the long document the workers read."""

    document: str | None


class RouteOutput(MessagesState):
    """What a run returns: the conversation with the answer appended, this turn's record, and
    the history of every turn in the thread."""

    attempts: list[Attempt]
    decisions: list[RoutingDecision]
    cost_usd: float
    notes: list[str]
    local_tokens: int
    remote_tokens: int
    turn: int
    history: list[TurnRecord]


class MinionsOutput(RouteOutput):
    """MinionS output: also this turn's jobs and what the workers found."""

    subtasks: list[str]
    worker_results: list[SubtaskResult]
    round: int


class RouteState(MessagesState):
    """Shared state: ``messages`` in and out, this turn's routing record, and the history."""

    attempts: Annotated[list[Attempt], operator.add]
    decisions: Annotated[list[RoutingDecision], operator.add]
    cost_usd: Annotated[float, operator.add]
    next_model: str | None
    """Set by the route step: the model the generate step calls next."""
    pending: Attempt | None
    """The attempt the generate step just made, waiting for the evaluate step."""
    last_message: AIMessage | None
    """The chat model's raw reply to ``pending`` (carries log-probabilities)."""
    document: str | None
    """Optional long context for decompose-and-reassemble (MinionS)."""
    subtasks: list[str]
    worker_results: Annotated[list[SubtaskResult], operator.add]
    round: int
    local_tokens: Annotated[int, operator.add]
    remote_tokens: Annotated[int, operator.add]
    notes: Annotated[list[str], operator.add]
    """Plain-language remarks for the caller, e.g. 'cloud model not configured'."""
    turn: int
    """1 for the first run in a thread, then 2, 3, ...; set by ``begin_turn``."""
    history: Annotated[list[TurnRecord], operator.add]
    """One record per finished turn (appended by ``finalize``); never reset."""


class WorkerState(TypedDict):
    """What one MinionS worker receives through ``Send``."""

    task: str
    index: int
    round: int
    document: str | None
    budget_usd: float
    """This job's share of what was left of the run's budget when the jobs were sent."""
