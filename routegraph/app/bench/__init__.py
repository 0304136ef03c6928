"""Benchmark harness: train routers on a split, score the test prompts once, report RouteLLM and
RouterBench metrics beside single-model, random and oracle baselines.

>>> from routegraph.app.bench import run_bench
>>> result = run_bench("gsm8k", routers=["random", "knn"])   # the JSON record of `routegraph bench`
"""

from routegraph.app.bench.harness import (
    add_graph_result,
    run_bench,
    summarize_operating_points,
)

__all__ = ["add_graph_result", "run_bench", "summarize_operating_points"]
