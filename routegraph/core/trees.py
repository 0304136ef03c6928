"""Fitted scikit-learn tree ensembles as plain arrays, evaluated in numpy.

Why: router and verifier artifacts must load without unpickling anything, and prediction must
cost a few numpy lookups. Both gradient-boosting flavours scikit-learn fits here
(``HistGradientBoosting*`` for the boosted router, ``GradientBoostingClassifier`` for the learned
verifier) are flattened into one layout and scored by one function:

* ``feature``, ``threshold``, ``left``, ``right``, ``leaf``, ``value``: one entry per node,
  concatenated over trees with child ids offset per tree; a row goes left when
  ``x[feature] <= threshold``; ``value`` already includes the learning rate;
* ``roots``: each tree's first node; ``baseline``: the constant the trees are added to (the
  regressor's baseline, or the classifier's prior log-odds).

The raw sum is what sklearn's ``decision_function`` (classifier) or ``predict`` (regressor)
returns; a classifier's probability is its logistic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from routegraph.core.errors import InvalidInputError

TREE_ARRAYS: tuple[str, ...] = (
    "feature",
    "threshold",
    "left",
    "right",
    "leaf",
    "value",
    "roots",
    "baseline",
)
"""The names of the arrays :func:`export_trees` returns and :func:`predict_trees` reads."""


def export_trees(model: Any) -> dict[str, np.ndarray]:
    """A fitted single-output gradient-boosting model as the arrays of :data:`TREE_ARRAYS`.

    Accepts ``HistGradientBoostingRegressor`` / binary ``HistGradientBoostingClassifier`` and
    binary ``GradientBoostingClassifier`` / ``GradientBoostingRegressor``.
    """
    if hasattr(model, "_predictors"):
        return _join(_hist_trees(model), float(np.ravel(model._baseline_prediction)[0]))
    if hasattr(model, "estimators_"):
        if model.estimators_.shape[1] != 1:
            raise InvalidInputError(
                "model", "has more than one tree per stage", "a binary or regression model"
            )
        return _join(_classic_trees(model), _classic_baseline(model))
    raise InvalidInputError(
        "model",
        f"{type(model).__name__} is not a fitted gradient-boosting model",
        ["HistGradientBoosting*", "GradientBoosting*"],
    )


def predict_trees(trees: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Baseline plus the leaf values of every tree, vectorised over rows and trees."""
    node = np.broadcast_to(trees["roots"], (len(x), len(trees["roots"]))).copy()
    rows = np.arange(len(x))[:, None]
    for _ in range(64):  # depth bound; breaks as soon as every row sits on a leaf
        leaf = trees["leaf"][node]
        if leaf.all():
            break
        go_left = x[rows, trees["feature"][node]] <= trees["threshold"][node]
        step = np.where(go_left, trees["left"][node], trees["right"][node])
        node = np.where(leaf, node, step)
    return trees["baseline"][0] + trees["value"][node].sum(axis=1)


def check_tree_arrays(trees: dict[str, np.ndarray], where: str) -> None:
    """Raise a clear error when an artifact's tree arrays are incomplete or inconsistent."""
    from routegraph.core.errors import ArtifactError

    missing = [name for name in TREE_ARRAYS if name not in trees]
    if missing:
        raise ArtifactError(f"{where}: missing tree arrays {missing}")
    n = len(trees["feature"])
    uneven = [f for f in TREE_ARRAYS[:6] if len(trees[f]) != n]
    if uneven or len(trees["baseline"]) != 1:
        raise ArtifactError(f"{where}: tree arrays of unequal length ({uneven or ['baseline']})")


def _hist_trees(model: Any) -> list[dict[str, np.ndarray]]:
    trees = []
    for (predictor,) in model._predictors:  # one tree per iteration for one output
        nodes = predictor.nodes
        trees.append(
            {
                "feature": nodes["feature_idx"],
                "threshold": nodes["num_threshold"],
                "left": nodes["left"],
                "right": nodes["right"],
                "leaf": nodes["is_leaf"],
                "value": nodes["value"],
            }
        )
    return trees


def _classic_trees(model: Any) -> list[dict[str, np.ndarray]]:
    rate = float(model.learning_rate)
    trees = []
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        leaf = tree.children_left < 0
        trees.append(
            {
                "feature": np.maximum(tree.feature, 0),
                "threshold": tree.threshold,
                "left": np.where(leaf, 0, tree.children_left),
                "right": np.where(leaf, 0, tree.children_right),
                "leaf": leaf,
                "value": rate * tree.value[:, 0, 0],
            }
        )
    return trees


def _classic_baseline(model: Any) -> float:
    init = model.init_
    if hasattr(init, "class_prior_"):  # binary classifier: prior log-odds
        prior = float(init.class_prior_[1])
        return math.log(prior / (1.0 - prior))
    return float(np.ravel(init.constant_)[0])  # regressor: the mean (or quantile)


def _join(trees: list[dict[str, np.ndarray]], baseline: float) -> dict[str, np.ndarray]:
    """Concatenate per-tree node tables, offsetting child ids by each tree's first node."""
    parts: dict[str, list[np.ndarray]] = {f: [] for f in TREE_ARRAYS[:6]}
    roots, offset = [], 0
    for tree in trees:
        roots.append(offset)
        parts["feature"].append(np.asarray(tree["feature"], dtype=np.int32))
        parts["threshold"].append(np.asarray(tree["threshold"], dtype=np.float64))
        parts["left"].append(np.asarray(tree["left"], dtype=np.int32) + offset)
        parts["right"].append(np.asarray(tree["right"], dtype=np.int32) + offset)
        parts["leaf"].append(np.asarray(tree["leaf"], dtype=bool))
        parts["value"].append(np.asarray(tree["value"], dtype=np.float64))
        offset += len(tree["feature"])
    out = {f: np.concatenate(v) for f, v in parts.items()}
    out["roots"] = np.asarray(roots, dtype=np.int32)
    out["baseline"] = np.asarray([baseline], dtype=np.float64)
    return out
