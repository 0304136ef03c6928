"""Reproduce the routers shipped in ``routegraph/artifacts/routers/``.

* ``default``  - two models (gpt-4-1106-preview strong, Mixtral-8x7B weak), P(strong needed),
  trained on the training splits of RouteLLM's GSM8K and MMLU recordings together;
  thresholds calibrated on their validation splits; test APGR per dataset stored in the artifact.
* ``specialist`` - the nine MMLU-Pro models: predicted quality per model, for N-model routing.

Splits are :func:`routegraph.core.data.splits.train_val_test_split` with seed 0 (10 % validation,
20 % test), so the benchmark harness can score the shipped routers on the same held-out prompts.

Run:  nice -n 10 python scripts/train_default_routers.py [--only default|specialist]
          [--embedder minilm-static|all-MiniLM-L6-v2] [--out DIR]
The shipped artifacts use ``minilm-static`` (static token vectors distilled from the bundled
all-MiniLM-L6-v2, see ``routers/static_embedder.py``: a decision in about a millisecond; the
table is distilled once, ~2 min); with ``all-MiniLM-L6-v2`` the first run embeds ~27k prompts
with the transformer (tens of minutes on 2 CPU cores; cached).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data import load_dataset
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.splits import train_val_test_split
from routegraph.routers.calibration import calibrate
from routegraph.routers.embedded import EMBEDDER_ENV
from routegraph.routers.evaluation import evaluate
from routegraph.routers.registry import default_router_path, make_router
from routegraph.routers.static_embedder import (
    STATIC_EMBEDDER_NAME,
    build_table,
    packaged_table_path,
)

OUT: dict[str, str] = {}
"""--out: folder to write the artifacts to instead of the shipped location."""

TWO_MODEL: tuple[str, dict[str, Any]] = ("ensemble", {})
SPECIALIST: tuple[str, dict[str, Any]] = ("boosted", {})
CALIBRATIONS = (
    ("strong_share", 0.5),
    ("quality_fraction", 0.95),
    ("strong_share", 0.2),
    ("strong_share", 0.8),
)


def concat(parts: list[RoutingDataset], name: str) -> RoutingDataset:
    """Stack datasets with the same models (row order kept; categories prefixed by dataset)."""
    models = parts[0].models
    assert all(p.models == models for p in parts), "datasets must share their model columns"
    return RoutingDataset(
        name=name,
        prompts=[x for p in parts for x in p.prompts],
        models=list(models),
        quality=np.vstack([p.quality for p in parts]),
        cost_usd=np.vstack([p.cost_usd for p in parts]),
        cost_source="; ".join(sorted({p.cost_source for p in parts})),
        prompt_ids=[f"{p.name}/{x}" for p in parts for x in p.prompt_ids],
        categories=[f"{p.name}:{c}" for p in parts for c in (p.categories or ["all"] * len(p))],
        contaminated=np.concatenate([p.contaminated for p in parts]),
        strong_model=parts[0].strong_model,
        weak_model=parts[0].weak_model,
    )


def split(ds: RoutingDataset) -> tuple[RoutingDataset, RoutingDataset, RoutingDataset]:
    train, val, test = train_val_test_split(ds, seed=0)
    return ds.subset(train), ds.subset(val), ds.subset(test)


def train_default() -> None:
    started = time.perf_counter()
    parts = {name: split(load_dataset(name)) for name in ("gsm8k", "mmlu")}
    train = concat([parts[n][0] for n in parts], "gsm8k+mmlu")
    val = concat([parts[n][1] for n in parts], "gsm8k+mmlu")
    name, params = TWO_MODEL
    router = make_router(name, **params).fit(train)
    router.meta_["validation"] = evaluate(router, val)
    router.meta_["test"] = {n: evaluate(router, parts[n][2]) for n in parts}
    for kind, value in CALIBRATIONS:
        calibrate(router, val, kind, value)
    router.meta_["split"] = {"seed": 0, "val_frac": 0.1, "test_frac": 0.2, "datasets": list(parts)}
    _save(router, "default", started)


def train_specialist() -> None:
    started = time.perf_counter()
    train, val, test = split(load_dataset("mmlu_pro"))
    name, params = SPECIALIST
    router = make_router(name, **params).fit(train)
    router.meta_["validation"] = evaluate(router, val)
    router.meta_["test"] = {"mmlu_pro": evaluate(router, test)}
    router.meta_["split"] = {"seed": 0, "val_frac": 0.1, "test_frac": 0.2, "datasets": ["mmlu_pro"]}
    _save(router, "specialist", started)


def _save(router, name: str, started: float) -> None:
    out = Path(OUT["dir"]) / name if OUT.get("dir") else default_router_path(name)
    if out.exists():
        shutil.rmtree(out)
    router.save(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(
        f"{name}: {router.kind} -> {out} ({size / 1e6:.2f} MB, "
        f"{time.perf_counter() - started:.0f} s)"
    )
    print(f"  validation: {router.meta_['validation']}")
    for dataset, scores in router.meta_["test"].items():
        print(f"  test {dataset}: {scores}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=("default", "specialist"), help="train just this one (default: both)"
    )
    parser.add_argument(
        "--embedder",
        default=STATIC_EMBEDDER_NAME,
        choices=(STATIC_EMBEDDER_NAME, "all-MiniLM-L6-v2"),
        help="prompt embedder of the routers (default: the static distilled MiniLM)",
    )
    parser.add_argument("--out", help="write DIR/<name> instead of the shipped artifacts")
    args = parser.parse_args()
    os.environ[EMBEDDER_ENV] = args.embedder
    if args.embedder == STATIC_EMBEDDER_NAME and not packaged_table_path().is_file():
        print(f"distilling the static table -> {build_table(packaged_table_path())}")
    if args.out:
        OUT["dir"] = args.out
    if args.only in (None, "default"):
        train_default()
    if args.only in (None, "specialist"):
        train_specialist()


if __name__ == "__main__":
    main()
