"""Reference models and baselines of one test set: what every router is compared against.

Why separate from the harness: the references (which model is "strong", which is "weak", the
cost range of AIQ) must be chosen once per test set and shared by every router, every baseline
and the graph-level results the lead adds later, or their numbers are not comparable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from routegraph.core import metrics
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError

RESERVED = ("random", "oracle")


@dataclass(frozen=True)
class References:
    """The two reference models of a test set and the cost range of AIQ.

    Two-model data (RouteLLM) uses the dataset's own strong/weak models. For N models the strong
    reference is the best single model on the test prompts (the cheaper one on ties) and the weak
    reference the cheapest; ``strong_share`` then means "share of calls to the best model".
    ``cost_range`` spans the cheapest to the most expensive single model (mean USD per query).
    """

    strong: str
    weak: str
    strong_index: int
    weak_index: int
    strong_quality: float
    strong_cost: float
    weak_quality: float
    weak_cost: float
    cost_range: tuple[float, float]
    two_model: bool

    @property
    def strong_point(self) -> tuple[float, float]:
        return (self.strong_quality, self.strong_cost)

    @property
    def weak_point(self) -> tuple[float, float]:
        return (self.weak_quality, self.weak_cost)

    def as_dict(self) -> dict[str, object]:
        record = asdict(self)
        record["cost_range"] = list(self.cost_range)
        return record


def is_two_model(ds: RoutingDataset) -> bool:
    """RouteLLM-style data: exactly two models, named strong and weak by the loader."""
    return (
        len(ds.models) == 2
        and ds.strong_model in ds.models
        and ds.weak_model in ds.models
        and ds.strong_model != ds.weak_model
    )


def references(test: RoutingDataset) -> References:
    """Pick the strong and weak references of ``test`` (see :class:`References`)."""
    q, c = test.quality, test.cost_usd
    if is_two_model(test):
        s, w = test.models.index(str(test.strong_model)), test.models.index(str(test.weak_model))
    else:
        s, w = metrics.reference_models(q, c)
    mean_c = c.mean(axis=0)
    return References(
        strong=test.models[s],
        weak=test.models[w],
        strong_index=s,
        weak_index=w,
        strong_quality=float(q[:, s].mean()),
        strong_cost=float(mean_c[s]),
        weak_quality=float(q[:, w].mean()),
        weak_cost=float(mean_c[w]),
        cost_range=(float(mean_c.min()), float(mean_c.max())),
        two_model=is_two_model(test),
    )


def baselines(test: RoutingDataset, refs: References, seeds: int = 10, seed: int = 0) -> dict:
    """Every single model, random routing between the references and the oracle.

    Keys: each model name, ``"random"`` and ``"oracle"``; each value has ``quality`` and
    ``cost_usd`` (mean USD per query). ``random`` reports the 50% mixing point and carries its
    whole curve (mean and std over ``seeds``) plus the APGR of random scores.
    """
    clash = set(RESERVED) & set(test.models)
    if clash:
        raise InvalidInputError(
            "models", f"model names {sorted(clash)} clash with baseline names", "other names"
        )
    q, c = test.quality, test.cost_usd
    s, w = refs.strong_index, refs.weak_index
    out: dict[str, dict] = dict(metrics.single_models(q, c, test.models))
    rand = metrics.random_routing(q[:, s], q[:, w], c[:, s], c[:, w], seeds=seeds, seed=seed)
    mid = rand["curve"][len(rand["curve"]) // 2]
    out["random"] = {
        "quality": mid["quality"],
        "cost_usd": mid["cost_usd"],
        "strong_share": mid["strong_share"],
        **rand,
    }
    out["oracle"] = metrics.oracle(q, c)
    rand_cost = np.array([p["cost_usd"] for p in rand["curve"]])
    rand_quality = np.array([p["quality"] for p in rand["curve"]])
    out["random"]["aiq"] = metrics.aiq(rand_cost, rand_quality, refs.cost_range)
    return out


def zero_router_aiq(single: dict[str, dict], models: list[str], refs: References) -> float:
    """AIQ of RouterBench's "zero router": the best random mix of single models, with no
    prompt-level routing. A router below it is not worth running."""
    cost = np.array([single[m]["cost_usd"] for m in models])
    quality = np.array([single[m]["quality"] for m in models])
    return metrics.aiq(cost, quality, refs.cost_range)
