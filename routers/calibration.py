"""Turn a router's P(strong needed) into a decision threshold that meets a business target.

RouteLLM's controller: a router scores, a threshold decides. Users do not think in thresholds but
in targets, so a threshold is calibrated on a validation split for one of three targets:

* ``strong_share`` - the share of calls that go to the strong model (0..1);
* ``cost_per_1k`` - USD per 1,000 queries (the largest strong share that stays within budget);
* ``quality_fraction`` - a fraction of the strong model's quality (the smallest strong share that
  reaches it, i.e. the cheapest way to get there).

The result is stored in ``router.meta_["thresholds"]`` under ``"<kind>=<value>"`` with what it
achieved on validation, so it travels with the artifact and the CLI / graphs can pick it by name.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from routegraph.core import metrics
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.routers.base import Router
from routegraph.routers.evaluation import strong_weak
from routegraph.routers.guarantee import calibration_record, guaranteed_threshold, point_threshold

TARGET_KINDS = ("strong_share", "cost_per_1k", "quality_fraction")


def parse_target(text: str) -> tuple[str, float]:
    """``"strong_share=0.5"`` -> ``("strong_share", 0.5)`` with a clear error otherwise."""
    kind, sep, raw = str(text).partition("=")
    kind = kind.strip()
    if not sep:
        raise InvalidInputError(
            "calibrate", f"{text!r} is not KIND=VALUE", [f"{k}=<number>" for k in TARGET_KINDS]
        )
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(
            f"calibrate {kind}", f"{raw!r} is not a number", "a number"
        ) from None
    check_target(kind, value)
    return kind, value


def check_target(kind: str, value: float) -> None:
    """Raise :class:`InvalidInputError` unless ``value`` is a valid target of ``kind``."""
    if kind not in TARGET_KINDS:
        raise InvalidInputError("target_kind", f"unknown target {kind!r}", TARGET_KINDS)
    if not np.isfinite(value):
        raise InvalidInputError(kind, f"{value} is not finite", "a finite number")
    if kind == "strong_share" and not 0.0 <= value <= 1.0:
        raise InvalidInputError(kind, f"{value} is outside [0, 1]", "a share in [0, 1]")
    if kind == "cost_per_1k" and value < 0:
        raise InvalidInputError(kind, f"{value} is negative", "USD per 1,000 queries >= 0")
    if kind == "quality_fraction" and not 0.0 < value <= 1.0:
        raise InvalidInputError(
            kind, f"{value} is outside (0, 1]", "a fraction of the strong model's quality in (0, 1]"
        )


def calibrate(
    router: Router,
    val_ds: RoutingDataset,
    target_kind: str,
    value: float,
    p_strong: np.ndarray | None = None,
) -> float:
    """The threshold on ``strong_probability`` meeting the target on ``val_ds``.

    Prompts with ``p >= threshold`` go to the strong model. The threshold and what it achieved
    on validation are stored in ``router.meta_["thresholds"]["<kind>=<value>"]``.
    ``p_strong`` may pass precomputed scores for ``val_ds`` (avoids re-scoring per target).
    """
    check_target(target_kind, value)
    if len(val_ds) == 0:
        raise InvalidInputError("val_ds", "is empty", "a validation split with prompts")
    strong, weak = strong_weak(router, val_ds)
    s, w = val_ds.models.index(strong), val_ds.models.index(weak)
    q = np.asarray(val_ds.quality, float)[:, [s, w]]
    c = np.asarray(val_ds.cost_usd, float)[:, [s, w]]
    keep = np.isfinite(q).all(axis=1)
    if target_kind == "cost_per_1k":
        keep &= np.isfinite(c).all(axis=1)
    if not keep.any():
        what = "outcomes and costs" if target_kind == "cost_per_1k" else "outcomes"
        raise InvalidInputError(
            "val_ds", f"no prompt has {what} for both {strong} and {weak}", "complete rows"
        )
    if p_strong is None:
        p_strong = router.strong_probability(list(val_ds.prompts), strong, weak)
    p = np.asarray(p_strong, float)[keep]
    q, c = q[keep], np.nan_to_num(c[keep])
    points = metrics.threshold_curve(p, q[:, 0], q[:, 1], c[:, 0], c[:, 1])
    share, quality, cost = points.strong_share, points.quality, points.cost_usd * 1000

    if target_kind == "strong_share":
        i = int(np.argmin(np.abs(share - value)))
    elif target_kind == "cost_per_1k":
        ok = np.flatnonzero(cost <= value + 1e-12)
        if ok.size == 0:
            raise InvalidInputError(
                "cost_per_1k",
                f"{value} USD is below the cheapest routing on validation",
                f"at least {cost.min():.4g} USD per 1,000 queries",
            )
        i = int(ok[np.argmax(share[ok])])
    else:
        goal = value * q[:, 0].mean()
        ok = np.flatnonzero(quality >= goal - 1e-12)
        if ok.size == 0:
            raise InvalidInputError(
                "quality_fraction",
                f"{value} of the strong model's quality is never reached on validation",
                f"at most {quality.max() / max(q[:, 0].mean(), 1e-12):.4g}",
            )
        i = int(ok[np.argmin(share[ok])])

    threshold = float(points.threshold[i])
    record: dict[str, Any] = {
        "target_kind": target_kind,
        "value": float(value),
        "threshold": threshold,
        "strong_model": strong,
        "weak_model": weak,
        "val_strong_share": float(share[i]),
        "val_quality": float(quality[i]),
        "val_cost_per_1k": float(cost[i]),
        "n_val": int(keep.sum()),
        "val_fingerprint": val_ds.fingerprint(),
    }
    router.meta_.setdefault("thresholds", {})[f"{target_kind}={value:g}"] = record
    # the scores and outcomes themselves, so any other target can be resolved at run time
    router.meta_["calibration_set"] = calibration_record(
        p, q[:, 0], q[:, 1], c[:, 0], c[:, 1], strong, weak
    )
    return threshold


def threshold_for_target(
    router: Router, target: str, confidence: float | None = None
) -> tuple[float, str]:
    """``(threshold, why)`` for a target such as ``"quality_fraction=0.95"``.

    Uses the calibration set stored with the router (see :mod:`routegraph.routers.guarantee`):
    the point threshold, or with ``confidence`` the guaranteed one. A router without a stored
    calibration set can still use targets calibrated at training time by exact name.
    """
    kind, value = parse_target(target)
    record = router.meta_.get("calibration_set")
    if not record:
        if confidence is None:
            threshold, where = resolve_threshold(router, f"{kind}={value:g}")
            return threshold, where
        raise InvalidInputError(
            "target_confidence",
            "this router stores no calibration set to certify a target with",
            "a router calibrated with routegraph train --calibrate (any target)",
        )
    n = record.get("n")
    if confidence is None:
        threshold = point_threshold(record, kind, value)
        return threshold, f"{kind}={value:g} on {n} calibration prompts"
    result = guaranteed_threshold(record, kind, value, confidence)
    return (
        result["threshold"],
        f"{kind}={value:g} guaranteed with {confidence:.0%} confidence on {n} calibration "
        f"prompts ({result['method']})",
    )


def resolve_threshold(router: Router, spec: str | float | None) -> tuple[float, str]:
    """A threshold from a number, a calibrated target name, or the router's default.

    Returns ``(threshold, where it came from)``. ``None`` picks the first calibrated threshold,
    else 0.5.
    """
    stored: dict[str, dict] = router.meta_.get("thresholds", {}) or {}
    if spec is None:
        if stored:
            name, record = next(iter(stored.items()))
            return float(record["threshold"]), f"calibrated {name}"
        return 0.5, "default 0.5"
    if isinstance(spec, int | float):
        return float(spec), "given"
    text = str(spec).strip()
    try:
        return float(text), "given"
    except ValueError:
        pass
    kind, _, raw = text.partition("=")
    try:
        wanted = float(raw)
    except ValueError:
        wanted = None
    for name, record in stored.items():
        same_target = record.get("target_kind") == kind.strip() and wanted is not None
        if name == text or (
            same_target and np.isclose(cast(float, record.get("value")), cast(float, wanted))
        ):
            return float(record["threshold"]), f"calibrated {name}"
    raise InvalidInputError(
        "threshold",
        f"{text!r} is not a number nor a calibrated target",
        list(stored) or ["a number in [0, 1]"],
    )
