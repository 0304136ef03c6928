"""Recorded LLM outcomes as :class:`RoutingDataset` tables: the shared benchmarks and RouterBench.

>>> from routegraph.data import load_dataset
>>> ds = load_dataset("gsm8k")      # 1,319 prompts x [Mixtral-8x7B, GPT-4-1106-preview]
"""

from routegraph.data.dataset import RoutingDataset
from routegraph.data.loaders import DATASETS, load_any, load_dataset
from routegraph.data.routerbench import load_routerbench_csv

__all__ = ["DATASETS", "RoutingDataset", "load_any", "load_dataset", "load_routerbench_csv"]
