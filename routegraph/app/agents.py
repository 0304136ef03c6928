"""routegraph graphs inside larger agents: as a subgraph node, and as a tool.

Two ways an agent uses routing:

* **Subgraph** (:func:`build_planned_agent`): a parent ``StateGraph`` on ``MessagesState`` with a
  planning step and a routed answer step, where the answer step *is* a compiled routegraph graph
  added as a node. The routing graph shares the parent's ``messages`` and ``context``, so
  streaming the parent with ``subgraphs=True`` shows every routing event (``routing_decision``,
  ``evaluation``, ``final``) under the answer step's namespace, and the parent keeps the answer's
  attempts, decisions and cost.
* **Tool** (:func:`routing_tool`): for agents whose own model decides when to ask for a routed
  answer (e.g. "hand hard sub-questions to the cascade"). Each call runs the graph on a fresh,
  one-question conversation and returns the answer plus a one-line routing summary; the full
  record is the tool message's ``artifact``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import StructuredTool, ToolException
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from routegraph.core.catalog import Catalog
from routegraph.core.context import RouteContext
from routegraph.core.errors import InvalidInputError, RouteGraphError
from routegraph.core.models import ModelSettings
from routegraph.core.state import Attempt, RoutingDecision, TurnRecord
from routegraph.graphs.registry import build_graph
from routegraph.nodes.resources import Toolkit, current_context, user_query
from routegraph.nodes.steps import emit

Graph = CompiledStateGraph[Any, Any, Any, Any]

PLAN_PROMPT = (
    "You are the planner of an assistant. Do not answer the request. In at most three short "
    "numbered steps, say how the answer should be worked out and what it must contain."
)
PLAN_TOKENS = 96
"""Most tokens of a plan: a plan is a few short steps, not an answer."""


class PlannedAgentState(MessagesState):
    """The parent agent's state: the conversation, the plan, and the routed answer's record.

    ``attempts``, ``decisions``, ``cost_usd``, ``turn`` and ``history`` are copied from the
    routing subgraph's output (each turn replaces them), so the parent sees why the answer came
    from where it did without reading the subgraph's state.
    """

    plan: str
    turn: int
    history: list[TurnRecord]
    attempts: list[Attempt]
    decisions: list[RoutingDecision]
    cost_usd: float


def _routing_graph(graph: str | Graph, overrides: Mapping[str, Any]) -> Graph:
    if isinstance(graph, str):
        return build_graph(graph, **overrides)
    if overrides:
        raise InvalidInputError(
            "overrides", "given with an already compiled graph", "a graph id with overrides"
        )
    return graph


def make_plan_node(
    planner: BaseChatModel | str,
    models: Mapping[str, BaseChatModel] | None = None,
    catalog: Catalog | None = None,
) -> Any:
    """The planning step: a chat model (or a catalog name, resolved like the graphs' models)
    writes a short plan that joins the conversation as a system message named ``plan``, so the
    routed model answers along it while the router still scores the user's own words."""
    kit = Toolkit(models=dict(models or {}), catalog=catalog)

    def chat_for(ctx: RouteContext) -> tuple[str, BaseChatModel]:
        if not isinstance(planner, str):
            return getattr(planner, "model_name", None) or type(planner).__name__, planner
        settings = ModelSettings(
            max_tokens=min(ctx.max_tokens, PLAN_TOKENS), temperature=ctx.temperature, seed=ctx.seed
        )
        resolved = kit.resolver(ctx).resolve_all(planner, settings)[0]
        return resolved.spec.name, resolved.chat

    def plan(state: PlannedAgentState, runtime: Runtime[RouteContext]) -> dict[str, Any]:
        ctx = current_context(runtime, kit)
        request = user_query(state["messages"])
        name, chat = chat_for(ctx)
        reply = chat.invoke([SystemMessage(PLAN_PROMPT), HumanMessage(request)])
        text = reply.text.strip() or "Answer the request directly."
        emit({"event": "plan", "model": name, "plan": text})
        note = SystemMessage(f"Plan for the answer (from the planner):\n{text}", name="plan")
        return {"plan": text, "messages": [note]}

    return plan


def build_planned_agent(
    graph: str | Graph = "cascade",
    *,
    planner: BaseChatModel | str = "smollm2-135m",
    checkpointer: Any = None,
    models: Mapping[str, BaseChatModel] | None = None,
    catalog: Catalog | None = None,
    **overrides: Any,
) -> Graph:
    """A parent agent: ``plan`` (a chat model drafts the steps) then ``answer`` (a routegraph
    graph as a subgraph node routes the request to the cheapest model that answers it well).

    ``graph`` is a graph id (``models``, ``catalog`` and ``overrides`` such as ``router`` or
    ``evaluator`` go to its factory) or an already compiled routing graph (then ``models`` and
    ``catalog`` only serve the planner). ``planner`` is a chat model or a catalog name (default:
    the embedded local model, so the agent runs offline). Run it with a ``RouteContext`` (or a
    dict of its fields) as ``context``: the planner and the routing subgraph both read it.
    With a ``checkpointer`` the answer subgraph keeps its own state in the thread too, so its
    ``turn`` counts the thread's turns and ``history`` lists them.
    """
    if isinstance(graph, str):
        given = {"models": models, "catalog": catalog}
        answer = build_graph(graph, **{k: v for k, v in given.items() if v}, **overrides)
    elif overrides:
        raise InvalidInputError(
            "overrides",
            f"{', '.join(sorted(overrides))} given with an already compiled graph",
            "a graph id with overrides, or a compiled graph alone",
        )
    else:
        answer = graph
    if checkpointer is not None:
        answer = answer.copy(update={"checkpointer": True})
    builder = StateGraph(PlannedAgentState, context_schema=RouteContext)
    builder.add_node("plan", make_plan_node(planner, models, catalog))
    builder.add_node("answer", answer)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer, name="planned_agent")


# -- the graphs as a tool -------------------------------------------------------------------------
class RoutedQuestion(BaseModel):
    """What the agent's model passes to the routing tool."""

    question: str = Field(description="The complete, self-contained question to answer.")


class RoutedDocumentQuestion(RoutedQuestion):
    """The MinionS graph also reads a long document."""

    document: str = Field(description="The long document the question is about.")


def routing_summary(meta: Mapping[str, Any]) -> str:
    """One line saying who answered, how sure, at what cost, and along which path."""
    if not meta.get("chosen_model"):
        return f"[routegraph {meta.get('graph')}: no model answered]"
    served = meta.get("served_by") or meta["chosen_model"]
    who = served if served == meta["chosen_model"] else f"{served} for {meta['chosen_model']}"
    confidence = meta.get("confidence")
    sure = "n/a" if confidence is None else f"{float(confidence):.2f}"
    path = " -> ".join(meta.get("path") or [meta["chosen_model"]])
    return (
        f"[routegraph {meta.get('graph')}: answered by {who} ({meta.get('source')}), "
        f"confidence {sure}, {meta.get('steps')} step(s) {path}, "
        f"${float(meta.get('cost_usd') or 0.0):.6f}]"
    )


def _result(out: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    final = out["messages"][-1]
    if not isinstance(final, AIMessage):
        raise ToolException("the routing graph returned no answer")
    meta = dict(final.response_metadata.get("routegraph") or {})
    artifact = {
        "answer": final.text,
        **meta,
        "decisions": list(out.get("decisions", [])),
        "attempts": list(out.get("attempts", [])),
    }
    return f"{final.text}\n\n{routing_summary(meta)}", artifact


def routing_tool(
    graph: str | Graph = "cascade",
    *,
    context: RouteContext | Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
    **overrides: Any,
) -> StructuredTool:
    """A LangChain tool that answers a question through a routegraph graph.

    The tool's content is the answer followed by a one-line routing summary (chosen model,
    source, confidence, steps, cost); its ``artifact`` holds the full record (the routegraph
    metadata of the answer, the decisions and the attempts). ``context`` is the run context
    of every call (a ``RouteContext`` or a dict of its fields); bad input and unreachable models
    come back to the agent as a tool error message instead of ending its run.
    """
    compiled = _routing_graph(graph, overrides)
    graph_id = graph if isinstance(graph, str) else compiled.get_name()
    run_context: Any = dict(context) if isinstance(context, Mapping) else context
    needs_document = graph_id == "minions"

    def inputs(question: str, document: str | None) -> dict[str, Any]:
        if not question.strip():
            raise ToolException("question: is empty; allowed: a non-empty question")
        values: dict[str, Any] = {"messages": [HumanMessage(question)]}
        if document is not None:
            values["document"] = document
        return values

    def run(question: str, document: str | None = None) -> tuple[str, dict[str, Any]]:
        try:
            out = compiled.invoke(inputs(question, document), context=run_context)
        except RouteGraphError as exc:
            raise ToolException(f"routing failed: {exc}") from exc
        return _result(out)

    async def arun(question: str, document: str | None = None) -> tuple[str, dict[str, Any]]:
        try:
            out = await compiled.ainvoke(inputs(question, document), context=run_context)
        except RouteGraphError as exc:
            raise ToolException(f"routing failed: {exc}") from exc
        return _result(out)

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name or f"ask_{graph_id}",
        description=description
        or (
            f"Answer a question with routegraph's {graph_id} routing graph: it sends the question "
            "to the cheapest model that answers it well and escalates when unsure. Returns the "
            "answer and how it was routed."
        ),
        args_schema=RoutedDocumentQuestion if needs_document else RoutedQuestion,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )
