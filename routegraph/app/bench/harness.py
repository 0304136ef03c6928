"""Run the benchmark: split, train (or load) each router, score the test prompts once, summarise.

The flow of ``routegraph bench``:

1. load the dataset (a shared benchmark by name or a RouterBench CSV);
2. split it with :func:`routegraph.core.data.splits.train_val_test_split`; the test part drops
   contaminated prompts (RouteLLM does the same), rows with a missing outcome, and any prompt
   whose text also occurs in the training part, so the test set is prompt-disjoint;
3. fit every router on the training part (or load its artifact from ``--router-dir``);
4. score every test prompt ONCE, then sweep all thresholds (two models) or a cost weight lambda
   (N models) in numpy - no prompt is re-scored per operating point;
5. summarise each curve with :func:`summarize_operating_points` next to the baselines.

Extension point for graph-level results: ``result["graphs"]`` maps a graph name to the same
record shape as a router. Fill it with :func:`add_graph_result` from operating points that a
graph produced on the test prompts (e.g. replay models at several thresholds), or pass
``graph_runners={"simple": fn}`` to :func:`run_bench`, where ``fn(test, references)`` returns
those points. Both go through :func:`summarize_operating_points`, so graphs and routers are
measured by one definition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.app.bench.baselines import References, baselines, references, zero_router_aiq
from routegraph.app.bench.costs import decision_costs
from routegraph.app.bench.selection import (
    TARGETS,
    ScoredSplit,
    select_router,
    validated_targets,
    validated_zero,
    zero_router_record,
)
from routegraph.core import metrics
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError, RouteGraphError

MAX_MISSING_SHARE = 0.2
"""A model (of three or more) missing on more of the held-out prompts than this is left out of
the benchmark, rather than every prompt it lacks being dropped from the test."""

MIN_VAL_ROWS = 10
"""Fewer clean validation prompts than this: no validation-chosen operating points."""

PointsLike = metrics.OperatingPoints | Iterable[Mapping[str, float] | Sequence[float]]
GraphRunner = Callable[[RoutingDataset, References], PointsLike]

SELECT_MODES = ("validation", "tasks")
"""How ``bench`` chooses each target's operating point (see :func:`run_bench`)."""

DEFAULT_ROUTERS = ("random", "heuristic", "knn", "sw_ranking", "matrix_factorization")
"""Routers run when none is named: the ones that fit in seconds on cached embeddings. Slower
ones (``category``, ``category_knn``, ``stacked``, the neural routers) are opt-in with
``--router``, or trained once and loaded with ``--router-dir``."""


# -- graph-level results reuse this ------------------------------------------------------------
def summarize_operating_points(
    points: PointsLike,
    strong_q: float | np.ndarray,
    weak_q: float | np.ndarray,
    strong_cost: float | np.ndarray,
    weak_cost: float | np.ndarray,
    cost_range: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The benchmark record (``apgr``, ``cpt50``, ``cpt80``, ``aiq``, ``cost_at_95pct_strong``,
    ``curve`` ...) of any set of operating points.

    ``points``: :class:`~routegraph.core.metrics.OperatingPoints`, dicts with ``strong_share``,
    ``quality``, ``cost_usd`` (optional ``threshold``) or ``(strong_share, quality, cost_usd)``
    tuples, each aggregated over the same test prompts (see :func:`points_from_outcomes`).
    Reference qualities/costs may be per-prompt arrays (their mean is used) or means.
    ``cost_range`` is the AIQ range; it defaults to (weak cost, strong cost).
    """
    pts = (
        points
        if isinstance(points, metrics.OperatingPoints)
        else (metrics.OperatingPoints.from_records(points))
    )
    strong = (float(np.mean(strong_q)), float(np.mean(strong_cost)))
    weak = (float(np.mean(weak_q)), float(np.mean(weak_cost)))
    return metrics.summarize_curve(pts, strong, weak, cost_range)


def points_from_outcomes(
    thresholds: Sequence[float],
    went_strong: np.ndarray,
    quality: np.ndarray,
    cost_usd: np.ndarray,
) -> metrics.OperatingPoints:
    """Aggregate per-prompt outcomes of runs at several thresholds into operating points.

    Arrays are (n_thresholds, n_prompts): whether the prompt ended on the strong model, the
    quality of the final answer and the USD the run spent on it (all attempts of a cascade).
    """
    ws = np.asarray(went_strong, dtype=float)
    q, c = np.asarray(quality, dtype=float), np.asarray(cost_usd, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    if not (ws.shape == q.shape == c.shape) or ws.ndim != 2 or ws.shape[0] != t.size:
        raise InvalidInputError(
            "went_strong/quality/cost_usd",
            f"shapes {ws.shape}, {q.shape}, {c.shape} for {t.size} thresholds",
            "three (n_thresholds, n_prompts) arrays",
        )
    return metrics.OperatingPoints(t, ws.mean(axis=1), q.mean(axis=1), c.mean(axis=1))


def summarize_against(points: PointsLike, refs: dict[str, Any]) -> dict[str, Any]:
    """:func:`summarize_operating_points` against a run's references (``References.as_dict()``)."""
    return summarize_operating_points(
        points,
        refs["strong_quality"],
        refs["weak_quality"],
        refs["strong_cost"],
        refs["weak_cost"],
        tuple(refs["cost_range"]),
    )


def add_graph_result(result: dict[str, Any], name: str, points: PointsLike) -> dict[str, Any]:
    """Summarise a graph's operating points against the run's references into
    ``result["graphs"][name]`` and return that record."""
    record = summarize_against(points, result["references"])
    result.setdefault("graphs", {})[name] = record
    return record


# -- data --------------------------------------------------------------------------------------
def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def _clean_side(
    ds: RoutingDataset, idx: np.ndarray, seen: set[str]
) -> tuple[np.ndarray, dict[str, int]]:
    """Rows of ``idx`` fit to score on: no contaminated prompt, no missing outcome or cost, no
    prompt text that training saw; and how many of each were dropped."""
    contaminated = np.asarray(ds.contaminated, bool)[idx]
    missing = np.isnan(ds.quality[idx]).any(axis=1) | np.isnan(ds.cost_usd[idx]).any(axis=1)
    overlap = np.array([_normalise(ds.prompts[i]) in seen for i in idx], dtype=bool)
    keep = ~(contaminated | missing | overlap)
    counts = {
        "dropped_contaminated": int(contaminated.sum()),
        "dropped_missing": int((missing & ~contaminated).sum()),
        "dropped_train_overlap": int((overlap & ~contaminated & ~missing).sum()),
    }
    return idx[keep], counts


def bench_splits(
    ds: RoutingDataset, seed: int = 0, mode: str = "random"
) -> tuple[RoutingDataset, RoutingDataset, RoutingDataset, dict]:
    """(train, validation, test, info): validation and test cleaned like :func:`bench_split`.

    ``mode`` is ``"random"`` (prompt groups, 70/10/20) or ``"by-task"`` (whole ``eval_name``
    tasks held out for validation and test; see :func:`~routegraph.core.data.splits.task_split`).
    """
    from routegraph.core.data.splits import SPLIT_MODES, task_split, train_val_test_split

    if mode not in SPLIT_MODES:
        raise InvalidInputError("split", f"unknown split {mode!r}", SPLIT_MODES)
    splitter = task_split if mode == "by-task" else train_val_test_split
    train_idx, val_idx, test_idx = (np.asarray(i, int) for i in splitter(ds, seed=seed))
    # A model with no outcome on many held-out prompts (not run on some tasks) would drop all
    # those prompts from the test; it is dropped from the benchmark instead, and said so.
    held_out = np.r_[val_idx, test_idx]
    missing_share = np.isnan(ds.quality[held_out]).mean(axis=0) if held_out.size else None
    dropped_models: list[str] = []
    if missing_share is not None and len(ds.models) > 2:
        dropped_models = [
            m for m, f in zip(ds.models, missing_share, strict=True) if f > MAX_MISSING_SHARE
        ]
        if dropped_models and len(ds.models) - len(dropped_models) >= 2:
            ds = ds.with_models([m for m in ds.models if m not in dropped_models])
        else:
            dropped_models = []
    seen = {_normalise(ds.prompts[i]) for i in train_idx}
    test_keep, counts = _clean_side(ds, test_idx, seen)
    val_keep, val_counts = _clean_side(ds, val_idx, seen)
    info: dict[str, Any] = {
        "mode": mode,
        "seed": seed,
        "n_train": int(train_idx.size),
        "n_test_raw": int(test_idx.size),
        **counts,
        "n_val": int(val_keep.size),
        "val_dropped": val_counts,
        "dropped_models": dropped_models,
    }
    if mode == "by-task" and ds.categories is not None:
        info["test_tasks"] = sorted({str(ds.categories[i]) for i in test_idx})
        info["val_tasks"] = sorted({str(ds.categories[i]) for i in val_idx})
    if test_keep.size == 0:
        raise InvalidInputError(
            "dataset", f"{ds.name!r} leaves no clean test prompt", "a dataset with more prompts"
        )
    return ds.subset(train_idx), ds.subset(val_keep), ds.subset(test_keep), info


def bench_split(ds: RoutingDataset, seed: int = 0) -> tuple[RoutingDataset, RoutingDataset, dict]:
    """(train, test, info): the training part and the cleaned, prompt-disjoint test part."""
    train, _val, test, info = bench_splits(ds, seed=seed)
    return train, test, info


def load_bench_dataset(dataset: str | None = None, data: str | Path | None = None):
    """The dataset of ``--dataset NAME`` or ``--data FILE.csv`` (exactly one)."""
    if (dataset is None) == (data is None):
        raise InvalidInputError(
            "dataset", "give exactly one of --dataset and --data", "--dataset NAME | --data CSV"
        )
    from routegraph.core.data import load_dataset, load_routerbench_csv

    if dataset is not None:
        return load_dataset(dataset)
    path = Path(data).expanduser()  # type: ignore[arg-type]
    if not path.is_file():
        raise InvalidInputError("data", f"{path} is not a file", "a RouterBench-format .csv")
    return load_routerbench_csv(path)


# -- routers -----------------------------------------------------------------------------------
def available_routers() -> tuple[str, ...]:
    from routegraph.routers.registry import available_names

    return tuple(available_names())


def default_routers() -> list[str]:
    known = available_routers()
    return [name for name in DEFAULT_ROUTERS if name in known]


def _artifact_names(router_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in router_dir.glob("*/router.json"))


def obtain_router(name: str, train: RoutingDataset, router_dir: Path | None, seed: int):
    """(router, source): the artifact ``router_dir/name`` if present, else a fresh fit of the
    :func:`router_spec` ``name``."""
    from routegraph.routers.registry import load_router

    if router_dir is not None and (router_dir / name / "router.json").is_file():
        router = load_router(router_dir / name)
        missing = set(train.models) - set(router.models_)
        if missing:
            raise ArtifactError(
                f"{router_dir / name}: router knows models {router.models_}, "
                f"dataset needs {sorted(missing)}"
            )
        return router, f"loaded {router_dir / name}"
    return new_router(name, seed).fit(train), "trained on the train split"


ROUTER_SPEC = "NAME or NAME:KEY=VALUE[,KEY=VALUE...] (e.g. sw_ranking:gamma=20,prior=0.5)"


def router_spec(spec: str, seed: int) -> tuple[str, dict[str, Any]]:
    """``"sw_ranking:gamma=20,prior=0.5"`` -> ``("sw_ranking", {"gamma": 20, "prior": 0.5})``.

    Why: a router's settings are what one compares on held-out data, so ``bench`` takes a
    variant wherever it takes a router name (results are keyed by the whole spec, so two
    variants of one router run side by side). Values are JSON where they parse, else text; the
    random baseline takes the run's seed unless the spec sets one."""
    from routegraph.app.commands.options import parse_key_values

    name, sep, rest = spec.partition(":")
    known = available_routers()
    if name not in known:
        raise InvalidInputError("router", f"unknown router {name!r} in {spec!r}", known)
    if sep and not rest.strip():
        raise InvalidInputError("router", f"{spec!r} has nothing after ':'", ROUTER_SPEC)
    params = parse_key_values(top_level_items(rest), "router") if sep else {}
    if name == "random":
        params.setdefault("seed", seed)
    return name, params


def top_level_items(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and quotes, so a JSON value may hold
    commas (``inner={"name": "knn", "params": {"k": 5}},fallback=prior`` is two items)."""
    items, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote and text[i - 1] != "\\" else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def new_router(spec: str, seed: int):
    """A fresh, untrained router from a :func:`router_spec` (bad parameters fail here, naming
    the router's own)."""
    from routegraph.routers.registry import make_router

    name, params = router_spec(spec, seed)
    return make_router(name, **params)


def raw_scores(router, ds: RoutingDataset, refs: References) -> np.ndarray:
    """P(strong) per prompt (two models) or predicted quality per model in ``ds``'s columns."""
    if refs.two_model:
        return np.asarray(router.strong_probability(ds.prompts, refs.strong, refs.weak), float)
    q_hat = np.asarray(router.predict_quality(ds.prompts), dtype=float)
    columns = [router.models_.index(m) for m in ds.models]
    return np.nan_to_num(q_hat[:, columns], nan=0.0)


def score_router(
    router,
    test: RoutingDataset,
    refs: References,
    decision_cost: np.ndarray,
) -> metrics.OperatingPoints:
    """Score the test prompts once and sweep every operating point."""
    scores = raw_scores(router, test, refs)
    return ScoredSplit(scores, test.quality, test.cost_usd, refs, decision_cost).points()


def task_chooser(
    name: str,
    seed: int,
    train: RoutingDataset,
    val: RoutingDataset,
    val_split: ScoredSplit,
    refs: References,
    cost_model: str,
):
    """A chooser of operating points across held-out tasks for router ``name`` (None when the
    training data has fewer than two tasks): validation plus every training prompt scored by a
    router fitted without its task (:func:`~routegraph.app.bench.task_folds.out_of_task_scores`).
    """
    from routegraph.app.bench.task_folds import out_of_task_scores, task_resampled_setting

    complete = np.isfinite(train.quality).all(axis=1) & np.isfinite(train.cost_usd).all(axis=1)
    pool_train = train.subset(np.flatnonzero(complete))
    scores = out_of_task_scores(
        lambda: new_router(name, seed),
        pool_train,
        lambda router, ds: raw_scores(router, ds, refs),
        seed=seed,
    )
    if scores is None or val.categories is None or pool_train.categories is None:
        return None
    cost = np.vstack(
        [
            _rows_cost(decision_costs(cost_model, train, pool_train), len(pool_train)),
            _rows_cost(val_split.decision_cost, len(val)),
        ]
    )
    pool = ScoredSplit(
        np.concatenate([scores, val_split.scores]),
        np.vstack([pool_train.quality, val.quality]),
        np.vstack([pool_train.cost_usd, val.cost_usd]),
        val_split.refs,
        cost,
    )
    tasks = np.array([*map(str, pool_train.categories), *map(str, val.categories)])
    rows = 2 * len(val)  # the test split is about twice the validation split

    def choose(target: str) -> tuple[float, dict[str, Any]]:
        return task_resampled_setting(pool, tasks, target, rows, seed=seed)

    return choose


def _rows_cost(cost: np.ndarray, n: int) -> np.ndarray:
    """Decision costs as one row per prompt."""
    return cost if cost.ndim == 2 else np.tile(cost, (n, 1))


# -- the run -----------------------------------------------------------------------------------
def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def run_bench(
    dataset: str | RoutingDataset | None = None,
    routers: Sequence[str] | None = None,
    router_dir: str | Path | None = None,
    seed: int = 0,
    data: str | Path | None = None,
    progress: bool = True,
    random_seeds: int = 10,
    graph_runners: Mapping[str, GraphRunner] | None = None,
    split: str = "random",
    cost_model: str = "mean",
    select: str | None = None,
) -> dict[str, Any]:
    """Benchmark ``routers`` on ``dataset`` and return the record ``routegraph bench --json``
    prints (see the module docstring and BENCHMARKS.md for every key).

    A router that crashes while fitting or scoring is reported as ``{"error": "..."}`` under its
    name and the run goes on; input errors (unknown router, broken artifact) still raise.

    ``select`` is how operating points are chosen: ``"validation"`` (balanced margin on the
    validation split) or ``"tasks"`` (across held-out tasks: out-of-task scores of the training
    prompts plus validation, :mod:`.task_folds`); default ``"tasks"`` for ``split="by-task"``,
    else ``"validation"``. Routers loaded from ``router_dir`` cannot be refitted per fold and
    use validation.
    """
    select = select or ("tasks" if split == "by-task" else "validation")
    if select not in SELECT_MODES:
        raise InvalidInputError("select", f"unknown selection {select!r}", SELECT_MODES)
    started = time.perf_counter()
    ds = dataset if isinstance(dataset, RoutingDataset) else load_bench_dataset(dataset, data)
    train, val, test, split_info = bench_splits(ds, seed=seed, mode=split)
    split_info["load_and_split_s"] = round(time.perf_counter() - started, 3)
    refs = references(test)
    base = baselines(test, refs, seeds=random_seeds, seed=seed)
    single = {m: base[m] for m in test.models}
    rdir = Path(router_dir).expanduser() if router_dir is not None else None
    if rdir is not None and not rdir.is_dir():
        raise InvalidInputError("router_dir", f"{rdir} is not a directory", "a folder of artifacts")
    names = list(routers or (_artifact_names(rdir) if rdir is not None else default_routers()))
    if not names:
        raise InvalidInputError("router", "no router to run", available_routers())
    for name in names:  # every spec is checked before the first router is fitted
        if rdir is None or not (rdir / name / "router.json").is_file():
            new_router(name, seed)
    decision_cost = decision_costs("mean", train, test)
    val_decision_cost = decision_costs("mean", train, val) if len(val) else decision_cost
    if cost_model != "mean" and not refs.two_model:  # thresholds of two models use no cost
        decision_cost = decision_costs(cost_model, train, test)
        if len(val):
            val_decision_cost = decision_costs(cost_model, train, val)
    zero_router = zero_router_record(test.quality, test.cost_usd, refs)
    zero_router["cost_vs_zero_at_95pct_strong"] = (
        1.0 if zero_router.get("cost_at_95pct_strong") else None
    )

    results: dict[str, Any] = {}
    val_refs = references(val) if len(val) >= MIN_VAL_ROWS else None
    with _progress(progress) as bar:
        task = bar.add_task("routers", total=len(names)) if bar is not None else None
        for name in names:
            if bar is not None:
                bar.update(task, description=f"fit/load {name}")
            t0 = time.perf_counter()
            try:
                router, source = obtain_router(name, train, rdir, seed)
                t1 = time.perf_counter()
                if bar is not None:
                    bar.update(
                        task, description=f"score {name} on {len(test)} + {len(val)} prompts"
                    )
                test_split = ScoredSplit(
                    raw_scores(router, test, refs), test.quality, test.cost_usd, refs, decision_cost
                )
                val_split = None
                if val_refs is not None and val_refs.two_model == refs.two_model:
                    val_split = ScoredSplit(
                        raw_scores(router, val, val_refs),
                        val.quality,
                        val.cost_usd,
                        val_refs,
                        val_decision_cost,
                    )
                points = test_split.points()
            except RouteGraphError:
                raise  # bad input (unknown router, broken artifact): the user must fix it
            except Exception as exc:  # a router bug must not lose the other routers' results
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                if bar is not None:
                    bar.advance(task)
                continue
            t2 = time.perf_counter()
            record = summarize_against(points, refs.as_dict())
            record.update(
                {"source": source, "fit_s": round(t1 - t0, 3), "score_s": round(t2 - t1, 3)}
            )
            zero95 = zero_router.get("cost_at_95pct_strong")
            own95 = record.get("cost_at_95pct_strong")
            record["cost_vs_zero_at_95pct_strong"] = (
                own95 / zero95 if own95 is not None and zero95 else None
            )
            if val_split is not None:
                chooser = None
                if select == "tasks" and source == "trained on the train split":
                    chooser = task_chooser(name, seed, train, val, val_split, refs, cost_model)
                record["validated"] = validated_targets(val_split, test_split, chooser)
            results[name] = record
            if bar is not None:
                bar.advance(task)

    validated_zero_router = (
        validated_zero(val.quality, val.cost_usd, val_refs, test.quality, test.cost_usd, refs)
        if val_refs is not None
        else {}
    )
    zero_router["validated"] = validated_zero_router
    selected = {target: select_router(results, target) for target in TARGETS}
    result: dict[str, Any] = {
        "dataset": ds.name,
        "n_test": len(test),
        "n_train": len(train),
        "split": split_info,
        "models": list(test.models),
        "cost_source": ds.cost_source,
        "decision_cost": cost_model,
        "references": refs.as_dict(),
        "baselines": base,
        "zero_router_aiq": zero_router_aiq(single, test.models, refs),
        "zero_router": zero_router,
        "routers": results,
        "selected": {
            "router": selected["q95"],
            "by_target": selected,
            "by": "validation only: met the target's bounds there with the largest margin",
        },
        "graphs": {},
    }
    for gname, runner in (graph_runners or {}).items():
        add_graph_result(result, gname, runner(test, refs))
    result["elapsed_s"] = round(time.perf_counter() - started, 3)
    return result
