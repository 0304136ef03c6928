"""routegraph: LangGraph workflow graphs that route every LLM request to the best-suited model.

The core package holds what every layer above shares: the model catalog and providers, the
shared graph state and per-run context, the cost ledger, data loaders, metrics and the CLI.
Techniques live in the top-level ``graphs`` package, reusable steps in ``nodes``, confidence
evaluators in ``evaluators`` and routing models in ``routers``.
"""

__version__ = "0.1.0"
