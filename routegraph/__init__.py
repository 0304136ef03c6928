"""routegraph: LangGraph workflow graphs that route every LLM request to the best-suited model.

The core package holds what every layer above shares: the model catalog and providers, the
shared graph state and per-run context, the cost ledger, data loaders, metrics and the CLI.
Techniques live in the top-level ``graphs`` package, reusable steps in ``nodes``, confidence
evaluators in ``evaluators`` and routing models in ``routers``.
"""

__version__ = "0.1.0"

from typing import Any

# The LangChain doors are imported on first use: `import routegraph` stays light (no langgraph,
# no models) and the foundation never imports the application layer at import time.
_LAZY = {
    "RoutedChatModel": "routegraph.app.chat_model",
    "RouterDecisionModel": "routegraph.app.decision_model",
    "record_feedback": "routegraph.core.outcomes",
    "arecord_feedback": "routegraph.core.outcomes",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'routegraph' has no attribute {name!r}")
