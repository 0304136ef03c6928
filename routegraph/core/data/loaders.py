"""One entry point for every dataset: a name of the shared benchmarks, or a RouterBench CSV path.

Parsed datasets are kept in memory (``lru_cache``), so the replay provider, routers and the
benchmark harness share one copy per process: treat a returned dataset as read-only and use
:meth:`RoutingDataset.subset` to derive new ones. The slow part of parsing (token counting of
recorded answers) is also cached on disk as ``.npz`` by :mod:`routegraph.core.data.tokens`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.core.paths import data_dir as default_data_dir

DATASETS: tuple[str, ...] = ("mmlu", "gsm8k", "mt_bench", "mmlu_pro")


def _loader(name: str) -> Callable[[Path], RoutingDataset]:
    # Imported lazily: MMLU-Pro pulls in zipfile/JSON work nobody needs for GSM8K.
    if name == "mmlu":
        from routegraph.core.data.routellm import load_mmlu

        return load_mmlu
    if name == "gsm8k":
        from routegraph.core.data.routellm import load_gsm8k

        return load_gsm8k
    if name == "mt_bench":
        from routegraph.core.data.routellm import load_mt_bench

        return load_mt_bench
    from routegraph.core.data.mmlu_pro import load_mmlu_pro

    return load_mmlu_pro


@lru_cache(maxsize=8)
def _load_cached(name: str, folder: str) -> RoutingDataset:
    return _loader(name)(Path(folder))


def load_dataset(name: str, data_dir: Path | str | None = None) -> RoutingDataset:
    """The shared benchmark ``name`` (one of :data:`DATASETS`), parsed once per process.

    ``data_dir`` defaults to :func:`routegraph.core.paths.data_dir` (``$ROUTEGRAPH_DATA_DIR`` or
    ``<project>/../shared/data``).
    """
    if name not in DATASETS:
        raise InvalidInputError("dataset", f"unknown dataset {name!r}", DATASETS)
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    return _load_cached(name, str(folder.resolve()))


def load_any(name_or_path: str | Path) -> RoutingDataset:
    """A shared benchmark by name, or a RouterBench-format ``.csv`` file by path."""
    from routegraph.core.data.routerbench import load_routerbench_csv

    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in DATASETS:
        return load_dataset(text)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".csv" or path.is_file():
        return load_routerbench_csv(path)
    raise InvalidInputError(
        "dataset",
        f"{text!r} is neither a known dataset nor a .csv file",
        [*DATASETS, "<path to a RouterBench .csv>"],
    )
