"""What a request may set on a shared server, and what the operator keeps.

A gateway serves clients it does not trust with its machine: a request must never name a file
(a catalog, a router folder), never ask for unbounded work (``max_tokens`` 10**40, ``samples``
40 on a CPU), and never spend beyond what its key allows. This module is the one place that
decides, before any model runs:

- :data:`SERVER_ONLY`: settings only the operator sets (``serve`` flags, defaults); a request
  naming one gets a 400 naming the field.
- ``router`` from a request must be a built-in name or the operator's own router (``serve
  --router``): a path from a client is refused, so nobody can probe the file system.
- ceilings: :data:`SERVER_LIMITS` for everyone, lowered or raised per key by the operator; a
  request may ask for less, never more (400 naming the field and the ceiling). Where a request
  names no value, the run's default is capped at the ceiling.
- ``outcome_log`` may only be made more private than the operator's setting.
- a key's allowed graphs and models (403 naming the first one it may not use).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from routegraph.app.server.errors import ApiError
from routegraph.app.server.keys import ApiKey
from routegraph.core.catalog import Catalog, load_catalog
from routegraph.core.context import LOG_MODES, ROUTERS, RouteContext
from routegraph.core.errors import InvalidInputError
from routegraph.core.models import ModelResolver

SERVER_ONLY = ("catalog_path", "explore", "call_retries")
"""Settings a request may not name: a file path, and the operator's own spending choices."""
SERVER_LIMITS: dict[str, float] = {
    "max_tokens": 4096,
    "samples": 10,
    "max_steps": 8,
    "max_rounds": 4,
    "max_subtasks": 8,
    "budget_usd": 5.0,
    "max_input_tokens": 32768,
    "call_timeout_s": 120.0,
}
"""Ceilings on per-request work for every caller unless a key says otherwise."""
PRIVACY = {mode: rank for rank, mode in enumerate(LOG_MODES)}  # prompt < embedding < off
DEFAULTS = asdict(RouteContext())
"""Each setting's default value, list defaults included (a request that names none runs these)."""
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "simple": ("weak_model", "strong_model"),
    "hybrid": ("weak_model", "strong_model"),
    "minions": ("weak_model", "strong_model"),
}
"""The settings naming the models each graph may call; every other graph calls ``models``."""


@dataclass
class RequestPolicy:
    """The operator's rules for requests (one per server)."""

    operator: dict[str, Any] = field(default_factory=dict)
    """The operator's settings (``serve --router ...``): what requests run under."""
    limits: dict[str, float] = field(default_factory=lambda: dict(SERVER_LIMITS))
    catalog: Catalog | None = None
    """The catalog runs use, whose fallback chains a key's model rights cover (default: the
    operator's ``catalog_path`` or the packaged one)."""

    def ceilings(self, key: ApiKey | None) -> dict[str, float]:
        return {**self.limits, **(key.limits if key else {})}

    def apply(
        self, context: dict[str, Any], params: dict[str, str], graph_id: str, key: ApiKey | None
    ) -> dict[str, Any]:
        """The request's settings over the operator's, checked; raises :class:`ApiError`."""
        unknown = sorted(set(context) - set(DEFAULTS))
        if unknown:  # named here so the allowed list leaves out what only the operator sets
            allowed = sorted(set(DEFAULTS) - set(SERVER_ONLY))
            raise ApiError(
                400,
                str(InvalidInputError("context", f"unknown setting(s) {unknown}", allowed)),
                "routegraph",
            )
        for name in SERVER_ONLY:
            if name in context:
                raise ApiError(
                    400,
                    f"'{name}' is set by this server's operator, not by requests.",
                    params.get(name, f"routegraph.{name}"),
                )
        self._check_router(context, params)
        self._check_privacy(context, params)
        merged = {**self.operator, **context}
        for name, ceiling in self.ceilings(key).items():
            asked = merged.get(name)
            if asked is None:
                merged[name] = _capped(DEFAULTS.get(name), ceiling)
                continue
            if isinstance(asked, int | float) and not isinstance(asked, bool) and asked > ceiling:
                shown = int(ceiling) if float(ceiling).is_integer() else ceiling
                raise ApiError(
                    400,
                    f"'{name}' {asked} is above this server's limit {shown}"
                    + (f" for key {key.id}" if key and name in key.limits else "")
                    + f"; allowed: at most {shown}.",
                    params.get(name, f"routegraph.{name}"),
                    code="limit_exceeded",
                )
        if key is not None:
            self._check_rights(merged, params, graph_id, key)
        return merged

    def _check_router(self, context: dict[str, Any], params: dict[str, str]) -> None:
        router = context.get("router")
        if router is None or router in ROUTERS or router == self.operator.get("router"):
            return
        allowed = [*ROUTERS, *([self.operator["router"]] if "router" in self.operator else [])]
        raise ApiError(
            400,
            f"router {router!r} is not served here; allowed: {', '.join(map(str, allowed))} "
            "(router folders are chosen by the operator: serve --router).",
            params.get("router", "routegraph.router"),
        )

    def _check_privacy(self, context: dict[str, Any], params: dict[str, str]) -> None:
        asked = context.get("outcome_log")
        floor = self.operator.get("outcome_log", DEFAULTS["outcome_log"])
        if asked is None or asked not in PRIVACY or floor not in PRIVACY:
            return  # unknown modes are refused by the context check, naming the field
        if PRIVACY[asked] < PRIVACY[floor]:
            allowed = [m for m in LOG_MODES if PRIVACY[m] >= PRIVACY[floor]]
            raise ApiError(
                400,
                f"'outcome_log' {asked!r} keeps more than this server's {floor!r}; allowed: "
                + ", ".join(allowed),
                params.get("outcome_log", "routegraph.outcome_log"),
            )

    def _check_rights(
        self, merged: dict[str, Any], params: dict[str, str], graph_id: str, key: ApiKey
    ) -> None:
        if key.graphs is not None and graph_id not in key.graphs:
            raise ApiError(
                403,
                f"Key {key.id} may not use graph {graph_id!r}; allowed: {', '.join(key.graphs)}.",
                "model",
                code="permission_denied",
            )
        if key.models is None:
            return
        for name in MODEL_FIELDS.get(graph_id, ("models",)):
            value = merged.get(name, DEFAULTS.get(name))
            for model in value if isinstance(value, list) else [value]:
                if not isinstance(model, str):
                    continue  # a wrong type is refused by the context check, naming the field
                for called in self._with_fallbacks(model, merged.get("catalog_path")):
                    if called in key.models:
                        continue
                    via = "" if called == model else f", the fallback of {model!r}"
                    raise ApiError(
                        403,
                        f"Key {key.id} may not use model {called!r} ({name}{via}); allowed: "
                        f"{', '.join(key.models)}.",
                        params.get(name, f"routegraph.{name}"),
                        code="permission_denied",
                    )

    def _with_fallbacks(self, model: str, catalog_path: Any) -> list[str]:
        """``model`` and the catalog's fallback chain after it: every model a call may reach."""
        catalog = self.catalog
        if catalog is None:
            try:
                catalog = load_catalog(catalog_path)
            except Exception:  # noqa: BLE001 - a bad catalog is reported by the context check
                return [model]
        if model not in catalog:
            return [model]  # an unknown name is refused by the context check, naming the field
        return [spec.name for spec in ModelResolver(catalog).chain(model)]


def _capped(default: Any, ceiling: float) -> Any:
    if isinstance(default, int | float) and not isinstance(default, bool) and default > ceiling:
        return type(default)(ceiling)
    return default
