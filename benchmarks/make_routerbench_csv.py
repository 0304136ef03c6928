"""Write the shared recordings out as RouterBench-format CSV files, to test ``--data`` on real data.

Why: no real RouterBench file is in the shared data, but its recordings are real model outcomes.
This writes them in Martian's layout (``sample_id, prompt, eval_name``, then per model ``M``,
``M|model_response``, ``M|total_cost``, and ``oracle_model_to_route_to``) so ``routegraph bench
--data`` and ``routegraph train --data`` run on a file exactly as a user would bring one:

* ``mmlu_pro``: the nine MMLU-Pro models, ``eval_name`` = the 14 subject categories, per-call
  cost = the loader's token estimate (prompt + recorded chain of thought x list prices, so it
  varies per call), the missing cells of the recordings kept empty;
* ``routellm``: GPT-4 vs Mixtral on MMLU (57 subjects), GSM8K and MT-Bench, ``eval_name`` =
  ``mmlu:<subject>`` / ``gsm8k`` / ``mt_bench``.

``--rows N`` samples N prompts (seeded); ``--duplicates F`` repeats a share F of rows under a
new ``sample_id`` (RouterBench repeats prompts across tasks); responses are cut to
``--response-chars`` characters to keep the file small.

Run:  python benchmarks/make_routerbench_csv.py mmlu_pro --rows 4000 --out runs/mmlu_pro_rb.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

from routegraph.core.data import load_dataset
from routegraph.core.data.dataset import RoutingDataset


def _routellm() -> RoutingDataset:
    parts = [load_dataset(n) for n in ("mmlu", "gsm8k", "mt_bench")]
    models = parts[0].models
    categories: list[str] = []
    for part in parts:
        cats = part.categories or [part.name] * len(part)
        categories += [f"{part.name}:{c}" if part.name == "mmlu" else part.name for c in cats]
    return RoutingDataset(
        name="routellm",
        prompts=[x for p in parts for x in p.prompts],
        models=list(models),
        quality=np.vstack([p.quality[:, [p.models.index(m) for m in models]] for p in parts]),
        cost_usd=np.vstack([p.cost_usd[:, [p.models.index(m) for m in models]] for p in parts]),
        categories=categories,
        contaminated=np.concatenate([np.asarray(p.contaminated, bool) for p in parts]),
    )


def to_frame(ds: RoutingDataset, response_chars: int) -> pd.DataFrame:
    """The dataset in RouterBench's column layout (contaminated prompts left out)."""
    keep = ~np.asarray(ds.contaminated, bool)
    rows = np.flatnonzero(keep)
    frame = pd.DataFrame(
        {
            "sample_id": [f"{ds.name}.{ds.prompt_ids[i]}" for i in rows],
            "prompt": [ds.prompts[i] for i in rows],
            "eval_name": [(ds.categories or ["all"] * len(ds))[i] for i in rows],
        }
    )
    for j, model in enumerate(ds.models):
        frame[model] = ds.quality[rows, j]
    for j, model in enumerate(ds.models):
        texts = [(ds.responses[i][j] or "")[:response_chars] if ds.responses else "" for i in rows]
        frame[f"{model}|model_response"] = [t if t else None for t in texts]
    for j, model in enumerate(ds.models):
        cost = ds.cost_usd[rows, j].copy()
        cost[np.isnan(ds.quality[rows, j])] = np.nan
        frame[f"{model}|total_cost"] = cost
    q = np.nan_to_num(ds.quality[rows], nan=-1.0)
    c = np.nan_to_num(ds.cost_usd[rows], nan=np.inf)
    best = q >= q.max(axis=1, keepdims=True)
    frame["oracle_model_to_route_to"] = [
        ds.models[k] for k in np.argmin(np.where(best, c, np.inf), axis=1)
    ]
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=("mmlu_pro", "routellm"))
    parser.add_argument("--out", required=True, help="CSV path to write")
    parser.add_argument("--rows", type=int, help="sample this many prompts (default: all)")
    parser.add_argument("--duplicates", type=float, default=0.01, help="share of rows repeated")
    parser.add_argument("--response-chars", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ds = _routellm() if args.source == "routellm" else load_dataset("mmlu_pro")
    frame = to_frame(ds, args.response_chars)
    rng = np.random.default_rng(args.seed)
    if args.rows and args.rows < len(frame):
        frame = frame.iloc[np.sort(rng.permutation(len(frame))[: args.rows])]
    n_dup = int(round(args.duplicates * len(frame)))
    if n_dup:
        dup = frame.iloc[rng.permutation(len(frame))[:n_dup]].copy()
        dup["sample_id"] = dup["sample_id"] + ".dup"
        frame = pd.concat([frame, dup], ignore_index=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # quote every text cell: recorded answers hold bare carriage returns (LaTeX "\\r..." decoded
    # to CR), which pandas leaves unquoted by default and most CSV readers take for a line end
    frame.to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    models = [c for c in frame.columns if c + "|total_cost" in frame.columns]
    missing = int(frame[models].isna().sum().sum())
    print(
        f"{out}: {len(frame)} rows ({n_dup} duplicated prompts), {len(models)} models, "
        f"{frame['eval_name'].nunique()} tasks, {missing} missing cells"
    )


if __name__ == "__main__":
    main()
