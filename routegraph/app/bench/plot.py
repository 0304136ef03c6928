"""Quality-vs-cost and quality-vs-strong-share plots of a benchmark record (matplotlib, Agg).

Reads only the JSON record, so ``routegraph bench --json > run.json`` can be plotted again later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_bench(result: dict[str, Any], path: str | Path) -> Path:
    """Write a two-panel PNG: every router's curve, single models, random mix and the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_cost, ax_share) = plt.subplots(1, 2, figsize=(13, 5.2))
    base = result["baselines"]
    refs = result["references"]

    curves = [(name, rec["curve"]) for name, rec in result["routers"].items() if "curve" in rec]
    curves += [
        (f"graph:{name}", rec["curve"])
        for name, rec in result.get("graphs", {}).items()
        if "curve" in rec
    ]
    for name, curve in curves:
        pts = sorted(curve, key=lambda p: p["cost_usd"])
        ax_cost.plot([p["cost_usd"] for p in pts], [p["quality"] for p in pts], label=name, lw=1.3)
        pts = sorted(curve, key=lambda p: p["strong_share"])
        ax_share.plot(
            [p["strong_share"] for p in pts], [p["quality"] for p in pts], label=name, lw=1.3
        )

    rand = base["random"]["curve"]
    share = [p["strong_share"] for p in rand]
    q = [p["quality"] for p in rand]
    std = [p["quality_std"] for p in rand]
    for ax, x in ((ax_cost, [p["cost_usd"] for p in rand]), (ax_share, share)):
        ax.plot(x, q, "k--", lw=1, label="random mix")
        ax.fill_between(
            x,
            [a - b for a, b in zip(q, std, strict=True)],
            [a + b for a, b in zip(q, std, strict=True)],
            color="k",
            alpha=0.1,
        )

    for name in result["models"]:
        row = base[name]
        ax_cost.scatter(row["cost_usd"], row["quality"], marker="o", s=30, zorder=3)
        ax_cost.annotate(
            name,
            (row["cost_usd"], row["quality"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    oracle = base["oracle"]
    ax_cost.scatter(
        oracle["cost_usd"],
        oracle["quality"],
        marker="*",
        s=120,
        c="gold",
        edgecolors="k",
        zorder=4,
        label="oracle",
    )
    for ref, style in ((refs["strong_quality"], ":"), (refs["weak_quality"], "-.")):
        ax_share.axhline(ref, color="grey", ls=style, lw=0.8)

    ax_cost.set_xscale("log")
    ax_cost.set_xlabel("mean USD per query (log)")
    ax_cost.set_ylabel("mean quality")
    ax_cost.set_title(f"{result['dataset']}: quality vs cost ({result['n_test']} test prompts)")
    ax_share.set_xlabel(f"share of calls to the strong model ({refs['strong']})")
    ax_share.set_ylabel("mean quality")
    ax_share.set_title("quality vs strong share (grey: strong / weak model)")
    for ax in (ax_cost, ax_share):
        ax.grid(alpha=0.3)
    ax_share.legend(fontsize=7, loc="lower right")
    ax_cost.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_online(record: dict[str, Any], path: str | Path) -> Path:
    """Learning curves of ``bench --online``: quality and cost per window of each policy (the
    zero router's validated mix streamed beside them), and the zero router's cost for the
    bandit policy's quality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_q, ax_c) = plt.subplots(1, 2, figsize=(13, 4.8))
    ends = [w["end"] for w in record["windows"]]
    for policy in ("offline", "bandit", "full", "mix"):
        label = "zero router's mix (validation)" if policy == "mix" else policy
        style = {"linestyle": ":", "marker": "x"} if policy == "mix" else {"marker": "o"}
        windows = record["windows"]
        ax_q.plot(ends, [w[policy]["quality"] for w in windows], label=label, **style)
        ax_c.plot(ends, [w[policy]["cost_usd"] for w in windows], label=label, **style)
    zero = [w["bandit"]["zero_cost_usd"] for w in record["windows"]]
    ax_c.plot(
        ends,
        [z if z is not None else float("nan") for z in zero],
        "k--",
        label="zero router at the bandit's quality",
    )
    ax_q.set(xlabel="prompts streamed", ylabel="mean quality per window", title="quality")
    ax_c.set(xlabel="prompts streamed", ylabel="mean USD per query", title="cost")
    for ax in (ax_q, ax_c):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"bench --online: {record.get('dataset')} ({record.get('split', {}).get('mode')}), "
        f"router {record.get('router')}, update every {record['settings']['update_every']}"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
