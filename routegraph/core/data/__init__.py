"""Recorded LLM outcomes as :class:`RoutingDataset` tables: the shared benchmarks and RouterBench.

>>> from routegraph.core.data import load_dataset
>>> ds = load_dataset("gsm8k")      # 1,319 prompts x [Mixtral-8x7B, GPT-4-1106-preview]
"""

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.loaders import DATASETS, load_any, load_dataset
from routegraph.core.data.routerbench import load_routerbench_csv

__all__ = ["DATASETS", "RoutingDataset", "load_any", "load_dataset", "load_routerbench_csv"]
