"""A trained router corrected by what a deployment observed (router kind ``corrected``).

Why: a router trained on benchmarks is off on a deployment's own traffic in ways its outcome
log can show - a model that answers this traffic better than the benchmarks said, per-prompt
differences the router cannot back up here. Refitting the whole router needs full labels
(every model on every prompt); the log has only the models each request called. So the
correction is small and per model: for each router column ``j`` a ridge regression of the
observed quality on ``[1, prior_j]`` (the router's own prediction), fitted only on the calls
that observed model ``j``, each weighted by one over the probability the call had of being made
(inverse propensity: exploratory calls are rare, so each counts for more). ``ridge``
pseudo-observations at zero correction keep a model with little evidence at the router's prior.

The corrected prediction is ``prior + a_j + b_j * prior``: ``a`` moves a model up or down on
this traffic, a negative ``b`` shrinks differences the router claimed but the log did not show.
Corrections compose: correcting a corrected router folds both into one affine map over the same
inner router, so versions never nest.

Trained from labelled data (``routegraph train corrected``) it is out-of-sample recalibration:
the inner router fits most of the training prompts, the correction the rest.

Artifact: ``router.json`` (kind ``corrected``, the ridge, where the log came from), ``theta`` in
``arrays.npz`` (one row ``[a, b]`` per column) and the inner router's artifact in ``inner/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.routers.base import Router

STALE_META = ("calibration_set", "thresholds", "calibration")
"""Calibrations stored with the inner router: they describe the uncorrected scores, so a
corrected router does not claim them (targets need a fresh calibration)."""


def ridge_corrections(
    outcomes: np.ndarray, propensity: np.ndarray, prior: np.ndarray, ridge: float = 5.0
) -> np.ndarray:
    """``theta`` (m, 2): per column the IPS-weighted ridge fit of ``outcome - prior`` on
    ``[1, prior]``. ``outcomes`` (t, m) is NaN where a model was not observed; ``propensity``
    (t, m) is the probability each observed call had of being made."""
    m = outcomes.shape[1]
    theta = np.zeros((m, 2))
    for j in range(m):
        seen = np.isfinite(outcomes[:, j]) & np.isfinite(prior[:, j])
        if not seen.any():
            continue
        w = 1.0 / np.maximum(propensity[seen, j], 1e-3)
        w = w * seen.sum() / max(w.sum(), 1e-12)  # weights average 1: counts of evidence
        f = np.stack([np.ones(seen.sum()), prior[seen, j]], axis=1)
        a = ridge * np.eye(2) + (f * w[:, None]).T @ f
        b = (f * w[:, None]).T @ (outcomes[seen, j] - prior[seen, j])
        theta[j] = np.linalg.solve(a, b)
    return theta


def doubly_robust(
    prediction: np.ndarray, outcomes: np.ndarray, propensity: np.ndarray
) -> np.ndarray:
    """Each model's outcome per record (t, m), estimated from a partial log: the prediction,
    plus, where the outcome was observed, the prediction's error over the call's propensity
    (unbiased whatever the prediction; the outcome itself under full labels). ``outcomes`` is
    NaN where a model was not called."""
    seen = np.isfinite(outcomes)
    residual = np.where(seen, np.nan_to_num(outcomes) - prediction, 0.0)
    return prediction + residual / np.where(seen, propensity, 1.0)


def apply_corrections(prior: np.ndarray, theta: np.ndarray, clip: bool = True) -> np.ndarray:
    """Corrected quality (n, m) from the router's prior (n, m), clipped to [0, 1] unless
    ``clip`` is False (a ranking that only compares models needs no clipping)."""
    q = prior + theta[None, :, 0] + theta[None, :, 1] * prior
    return np.clip(q, 0.0, 1.0) if clip else q


def shifted_p_strong(p: np.ndarray, shift: np.ndarray, strong: int, weak: int) -> np.ndarray:
    """P(strong) after a correction that moved each column's quality by ``shift`` (..., m):
    half the change of the strong-minus-weak gap, as the base class maps qualities to
    P(strong)."""
    return np.clip(p + 0.5 * (shift[..., strong] - shift[..., weak]), 0.0, 1.0)


def compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """The one correction equal to applying ``first`` and then ``then`` (unclipped):
    ``q1 = a1 + (1 + b1) q0``, ``q2 = a2 + (1 + b2) q1``."""
    a = then[:, 0] + (1.0 + then[:, 1]) * first[:, 0]
    b = (1.0 + then[:, 1]) * (1.0 + first[:, 1]) - 1.0
    return np.stack([a, b], axis=1)


class CorrectedRouter(Router):
    """An inner router plus per-model corrections learned from an outcome log."""

    kind = "corrected"

    def __init__(
        self,
        ridge: float = 5.0,
        inner: dict[str, Any] | None = None,
        holdout: float = 0.25,
        seed: int = 0,
    ):
        if not ridge > 0:
            raise InvalidInputError("ridge", f"{ridge!r} is not > 0", "a number > 0")
        if not 0.0 < holdout < 1.0:
            raise InvalidInputError("holdout", f"{holdout!r} is outside (0, 1)", "e.g. 0.25")
        self.ridge = float(ridge)
        self.inner = dict(inner or {"name": "knn", "params": {}})
        if "name" not in self.inner:
            raise InvalidInputError("inner", "has no 'name'", "{'name': ROUTER, 'params': {...}}")
        self.inner.setdefault("params", {})
        self.holdout = float(holdout)
        self.seed = int(seed)

    @classmethod
    def around(cls, inner: Router, ridge: float = 5.0) -> CorrectedRouter:
        """A corrected router over a trained ``inner`` with no correction yet; a corrected
        ``inner`` is unwrapped (its correction kept) so corrections never nest."""
        theta = np.zeros((len(inner.models_), 2))
        if isinstance(inner, CorrectedRouter):
            theta = inner.theta_.copy()
            inner = inner.router_
        router = cls(ridge, inner={"name": inner.kind, "params": inner._params()})
        router._adopt(inner, theta)
        return router

    def _adopt(self, inner: Router, theta: np.ndarray) -> None:
        self.router_ = inner
        self.theta_ = theta
        self.models_ = list(inner.models_)
        self.meta_ = {k: v for k, v in inner.meta_.items() if k not in STALE_META}
        self.meta_.pop("version", None)

    # -- learning ----------------------------------------------------------------------------
    def fit_outcomes(
        self, outcomes: np.ndarray, propensity: np.ndarray, prior: np.ndarray
    ) -> CorrectedRouter:
        """Learn a further correction from logged outcomes of ``this`` router's predictions
        (``prior`` = what it predicted when the calls were made) and fold it in."""
        step = ridge_corrections(outcomes, propensity, prior, self.ridge)
        self.theta_ = compose(self.theta_, step)
        return self

    def fit(self, data: RoutingDataset) -> CorrectedRouter:
        """Trained from labelled data (``routegraph train corrected``): the inner router on
        ``1 - holdout`` of the prompts, the correction on the rest (every model observed), so
        the correction recalibrates the inner router out of sample."""
        from routegraph.routers.registry import make_router

        rows = np.random.default_rng(self.seed).permutation(len(data))
        cut = max(1, int(round(self.holdout * len(data))))
        if len(data) - cut < 2:
            raise InvalidInputError("data", f"{len(data)} prompts", "at least 3 prompts")
        inner = make_router(self.inner["name"], **self.inner["params"])
        inner.fit(data.subset(np.sort(rows[cut:])))
        self._adopt(inner, np.zeros((len(inner.models_), 2)))
        held = data.subset(np.sort(rows[:cut])).with_models(self.models_)
        prior = np.asarray(inner.predict_quality(held.prompts), float)
        return self.fit_outcomes(held.quality, np.ones_like(held.quality), prior)

    # -- prediction --------------------------------------------------------------------------
    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        prior = np.asarray(self.router_.predict_quality(prompts), float)
        return apply_corrections(prior, self.theta_)

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        """The inner router's P(strong) moved by half the corrected quality gap's change (the
        same map the base class uses from qualities to P(strong))."""
        s, w = self.strong_weak_columns(strong, weak)
        p = np.asarray(self.router_.strong_probability(prompts, strong, weak), float)
        prior = np.asarray(self.router_.predict_quality(prompts), float)
        return shifted_p_strong(p, apply_corrections(prior, self.theta_) - prior, s, w)

    def novelty(self, prompts: list[str]) -> list[dict[str, Any]] | None:
        """The inner router's novelty facts (None when it has no novelty guard)."""
        inner_novelty = getattr(self.router_, "novelty", None)
        return inner_novelty(prompts) if inner_novelty is not None else None

    # -- persistence -------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        return {
            "ridge": self.ridge,
            "inner": self.inner,
            "holdout": self.holdout,
            "seed": self.seed,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"theta": self.theta_}

    def save(self, directory: str | Path) -> Path:
        out = super().save(directory)
        self.router_.save(out / "inner")
        return out

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        from routegraph.routers.registry import load_router

        self.theta_ = np.asarray(arrays["theta"], float)
        self.router_ = load_router(directory / "inner")
        if self.router_.kind != self.inner["name"] or self.theta_.shape != (len(self.models_), 2):
            raise ArtifactError(f"{directory}: corrected router does not match its inner router")
