"""The embedding cache: vectors are normalised, stored once on disk as plain npz, reused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from routegraph.core.embeddings import EmbeddingCache, text_key
from routegraph.core.errors import InvalidInputError


class CountingEmbeddings(Embeddings):
    """A deterministic stand-in that counts how many texts it was asked to embed."""

    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        out = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
            out.append((np.random.default_rng(seed).normal(size=8) * 3).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_vectors_are_float32_unit_length_and_cached_on_disk(tmp_path):
    fake = CountingEmbeddings()
    cache = EmbeddingCache(fake, "fake", directory=tmp_path, min_store=1)
    texts = [f"question {i}" for i in range(20)] + ["question 3"]
    vectors = cache.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (21, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[3], vectors[20])
    assert fake.calls == 20  # the duplicate was embedded once

    shards = list(tmp_path.glob("*.npz"))
    assert shards, "nothing was written to disk"
    with np.load(shards[0], allow_pickle=False) as npz:  # plain arrays, no pickle
        assert set(npz.files) == {"keys", "vectors"}

    again = CountingEmbeddings()
    reloaded = EmbeddingCache(again, "fake", directory=tmp_path).embed(texts)
    assert again.calls == 0  # a fresh process re-embeds nothing
    np.testing.assert_array_equal(reloaded, vectors)


def test_single_queries_stay_in_memory_and_broken_shards_are_skipped(tmp_path):
    cache = EmbeddingCache(CountingEmbeddings(), "fake", directory=tmp_path, min_store=8)
    cache.embed(["one routing query"])
    assert not list(tmp_path.glob("*.npz"))
    (tmp_path / f"{text_key('x')[0]}-broken.npz").write_bytes(b"not a zip file")
    fake = CountingEmbeddings()
    vec = EmbeddingCache(fake, "fake", directory=tmp_path).embed(["x"])
    assert vec.shape == (1, 8) and fake.calls == 1


def test_a_bare_string_is_refused(tmp_path):
    cache = EmbeddingCache(CountingEmbeddings(), "fake", directory=tmp_path)
    with pytest.raises(InvalidInputError, match="texts"):
        cache.embed("not a list")


def test_bundled_minilm_embeds_offline_and_ranks_paraphrases_closer(tmp_path):
    from routegraph.core.embeddings import LOCAL_EMBEDDER_NAME, local_embeddings

    embedder = local_embeddings()
    cache = EmbeddingCache(embedder, directory=tmp_path)
    assert cache.name == LOCAL_EMBEDDER_NAME
    v = cache.embed(
        [
            "How do I bake bread at home?",
            "What is a simple recipe for homemade bread?",
            "Prove that there are infinitely many primes.",
        ]
    )
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    # the LangChain interface gives the same vectors
    np.testing.assert_allclose(
        embedder.embed_query("How do I bake bread at home?"), v[0], atol=1e-5
    )
