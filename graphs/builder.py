"""Assemble the shared route -> generate -> evaluate loop around one routing policy.

Five of the six techniques are this loop with a different policy (see ``routegraph.nodes.policy``);
MinionS has its own shape (``routegraph.graphs.minions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from routegraph.core.catalog import Catalog
from routegraph.core.context import RouteContext
from routegraph.core.state import RouteInput, RouteOutput, RouteState
from routegraph.evaluators.base import Evaluator
from routegraph.nodes.policy import Policy
from routegraph.nodes.resources import Toolkit
from routegraph.nodes.routing import RouterHandle
from routegraph.nodes.steps import (
    make_evaluate_node,
    make_finalize_node,
    make_generate_node,
    make_route_node,
)
from routegraph.nodes.turns import begin_turn
from routegraph.routers.base import Router


def build_loop_graph(
    policy: Policy,
    *,
    models: Mapping[str, BaseChatModel] | None = None,
    router: Router | RouterHandle | None = None,
    evaluator: Evaluator | None = None,
    catalog: Catalog | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the loop for ``policy``; overrides replace catalog models, router, evaluator."""
    kit = Toolkit(models=models or {}, router=router, evaluator=evaluator, catalog=catalog)
    builder = StateGraph(
        RouteState,
        context_schema=RouteContext,
        input_schema=RouteInput,
        output_schema=RouteOutput,
    )
    builder.add_node("begin_turn", begin_turn)
    builder.add_node("route", make_route_node(policy, kit))
    builder.add_node("generate", make_generate_node(kit))
    builder.add_node("evaluate", make_evaluate_node(policy, kit))
    select = getattr(policy, "select", None)  # optional: the policy's own answer choice
    builder.add_node("finalize", make_finalize_node(policy.name, kit, select))
    builder.add_edge(START, "begin_turn")
    builder.add_edge("begin_turn", "route")
    builder.set_finish_point("finalize")
    return builder.compile(name=policy.name)
