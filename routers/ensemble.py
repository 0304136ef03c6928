"""An average of several trained routers: errors of different models partly cancel.

Why: boosted trees win where signals interact (MMLU subjects), the ridge-based stacked router
where data are few and smooth (GSM8K); averaging their standardised P(strong) keeps most of both.
Each member is scored, its ``strong_probability`` standardised with the mean and spread it had on
the training prompts, and the weighted mean is mapped back to (0, 1) with a logistic. Predicted
quality is the weighted mean of the members' predictions.

Artifact layout: ``router.json`` (kind ``ensemble``, member names and weights) plus one
sub-folder per member, each a complete artifact of its own (``member0/``, ``member1/`` ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.routers.base import Router
from routegraph.routers.embedded import base_meta, check_training_data

DEFAULT_MEMBERS = ({"name": "boosted", "params": {}}, {"name": "stacked", "params": {}})


class EnsembleRouter(Router):
    """Weighted mean of member routers (built by name through the registry)."""

    kind = "ensemble"

    def __init__(
        self, members: list[dict[str, Any]] | None = None, weights: list[float] | None = None
    ) -> None:
        self.members = [dict(m) for m in (members or DEFAULT_MEMBERS)]
        for i, m in enumerate(self.members):
            if "name" not in m:
                raise InvalidInputError(
                    f"members[{i}]", "has no 'name'", "{'name': ROUTER, 'params': {...}}"
                )
            m.setdefault("params", {})
        self.weights = [float(w) for w in (weights or [1.0] * len(self.members))]
        if len(self.weights) != len(self.members) or min(self.weights) < 0 or not any(self.weights):
            raise InvalidInputError(
                "weights",
                f"{self.weights} does not fit {len(self.members)} members",
                "one weight >= 0 per member",
            )
        self.models_: list[str] = []
        self.meta_: dict[str, Any] = {}
        self.routers_: list[Router] = []

    def _params(self) -> dict:
        return {"members": self.members, "weights": self.weights}

    def embed(self, prompts: list[str]) -> np.ndarray | None:
        """Warm the members' embedding caches (the train command calls this first)."""
        out = None
        for router in self._built():
            if hasattr(router, "embed"):
                out = router.embed(prompts)
        return out

    def _built(self) -> list[Router]:
        if not self.routers_:
            from routegraph.routers.registry import make_router

            self.routers_ = [make_router(m["name"], **m["params"]) for m in self.members]
        return self.routers_

    def fit(self, data: RoutingDataset) -> EnsembleRouter:
        check_training_data(data)
        self.routers_ = []
        for router in self._built():
            router.fit(data)
        self.models_ = list(data.models)
        self.meta_ = base_meta(
            data,
            "members' labels (see member artifacts)",
            embedder=self.routers_[0].meta_.get("embedder"),
        )
        rows = np.isfinite(np.asarray(data.quality, float)).all(axis=1)
        prompts = [p for p, ok in zip(data.prompts, rows, strict=True) if ok][:2000]
        scores = np.stack([r.strong_probability(prompts) for r in self.routers_])
        self.meta_["member_scale"] = [[float(s.mean()), float(s.std() or 1.0)] for s in scores]
        return self

    def _combined(self, prompts: list[str], strong: str | None, weak: str | None) -> np.ndarray:
        scale = self.meta_["member_scale"]
        total = np.zeros(len(prompts))
        for router, w, (mu, sd) in zip(self.routers_, self.weights, scale, strict=True):
            total += w * (router.strong_probability(prompts, strong, weak) - mu) / sd
        return total / sum(self.weights)

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        self.strong_weak_columns(strong, weak)
        if not self.routers_:
            raise ArtifactError("EnsembleRouter is not trained: call fit() or load()")
        return 1.0 / (1.0 + np.exp(-self._combined(prompts, strong, weak)))

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        if not self.routers_:
            raise ArtifactError("EnsembleRouter is not trained: call fit() or load()")
        q = sum(
            w * r.predict_quality(prompts) for r, w in zip(self.routers_, self.weights, strict=True)
        )
        return np.asarray(q) / sum(self.weights)

    def save(self, directory: str | Path) -> Path:
        out = super().save(directory)
        for i, router in enumerate(self.routers_):
            router.save(out / f"member{i}")
        return out

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        from routegraph.routers.registry import load_router

        self.routers_ = []
        for i, member in enumerate(self.members):
            router = load_router(directory / f"member{i}")
            if router.kind != member["name"]:
                raise ArtifactError(
                    f"{directory}/member{i}: is a {router.kind!r} router, not {member['name']!r}"
                )
            self.routers_.append(router)
        if "member_scale" not in self.meta_:
            raise ArtifactError(f"{directory}: ensemble record has no member_scale")
