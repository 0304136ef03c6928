"""Decompose and reassemble (MinionS): a strong model splits the job, small local workers
solve the parts in parallel, the strong model merges them.

    decompose(strong) --Send--> worker(local) x N --> aggregate(strong) --confident--> finalize
        ^                                                  |
        \\------------- not confident, rounds left ----------/

Put the long context in the input's ``document`` key; the question is the last user message.
``response_metadata["routegraph"]`` reports ``local_tokens`` and ``remote_tokens`` separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from routegraph.core.catalog import Catalog
from routegraph.core.context import RouteContext
from routegraph.core.state import MinionsInput, MinionsOutput, RouteState
from routegraph.evaluators.base import Evaluator
from routegraph.nodes.minions import make_aggregate_node, make_decompose_node, make_worker_node
from routegraph.nodes.resources import Toolkit
from routegraph.nodes.steps import make_finalize_node
from routegraph.nodes.turns import begin_turn


def build_minions_graph(
    *,
    models: Mapping[str, BaseChatModel] | None = None,
    evaluator: Evaluator | None = None,
    catalog: Catalog | None = None,
    router: object | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the MinionS graph (overrides: models, evaluator, catalog; no router is used)."""
    kit = Toolkit(models=models or {}, evaluator=evaluator, catalog=catalog)
    builder = StateGraph(
        RouteState,
        context_schema=RouteContext,
        input_schema=MinionsInput,
        output_schema=MinionsOutput,
    )
    builder.add_node("begin_turn", begin_turn)
    builder.add_node("decompose", make_decompose_node(kit))
    builder.add_node("worker", make_worker_node(kit))
    builder.add_node("aggregate", make_aggregate_node(kit))
    builder.add_node("finalize", make_finalize_node("minions", kit))
    builder.add_edge(START, "begin_turn")
    builder.add_edge("begin_turn", "decompose")
    builder.add_edge("worker", "aggregate")
    builder.set_finish_point("finalize")
    return builder.compile(name="minions")


graph = build_minions_graph()
