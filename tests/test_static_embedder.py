"""The static embedder distilled from MiniLM: plain-data table, fast lookups, routers reload it."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.routers.embedded import EMBEDDER_ENV, named_embedder
from routegraph.routers.knn import KNNRouter
from routegraph.routers.registry import load_router
from routegraph.routers.static_embedder import (
    STATIC_EMBEDDER_NAME,
    StaticEmbedder,
    save_table,
    static_embedder,
)


@pytest.fixture()
def random_table(tmp_path):
    """A table of the right vocabulary size with random rows (no semantics; mechanics only)."""
    rows = np.random.default_rng(0).normal(size=(30522, 300)).astype(np.float32)
    return save_table(rows, tmp_path / "table.npz")


def test_vectors_are_normalised_deterministic_and_order_free(random_table):
    emb = StaticEmbedder(random_table)
    a = emb.embed(["the cat sat on the mat", "", "mat the on sat cat the"])
    assert a.shape == (3, 256) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert np.allclose(a[1], 0.0)  # no tokens: a zero vector, not NaN
    assert np.allclose(a[0], a[2], atol=1e-5)  # a bag of tokens
    assert np.array_equal(emb.embed(["the cat sat on the mat"])[0], a[0])
    with pytest.raises(InvalidInputError):
        emb.embed("a single string")


def test_broken_table_is_an_artifact_error(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="broken static table"):
        StaticEmbedder(bad).embed(["x"])


def test_router_trained_on_static_vectors_reloads_with_them(random_table, tmp_path, monkeypatch):
    monkeypatch.setenv(EMBEDDER_ENV, STATIC_EMBEDDER_NAME)
    monkeypatch.setattr(
        "routegraph.routers.static_embedder.static_embedder", lambda: StaticEmbedder(random_table)
    )
    prompts = [f"question {i} about {t}" for i, t in enumerate(["math", "law"] * 20)]
    quality = np.array([[i % 2, 1.0] for i in range(40)], dtype=float)
    ds = RoutingDataset("toy", prompts, ["w", "s"], quality, np.ones((40, 2)))
    router = KNNRouter(k=5).fit(ds)
    assert router.meta_["embedder"] == STATIC_EMBEDDER_NAME
    again = load_router(router.save(tmp_path / "knn"))
    assert again.embedder.name == STATIC_EMBEDDER_NAME
    assert np.allclose(again.predict_quality(prompts[:5]), router.predict_quality(prompts[:5]))
    with pytest.raises(InvalidInputError, match="unknown embedder"):
        named_embedder("word2vec")


@pytest.mark.slow
def test_distilled_table_keeps_meaning_and_is_fast():
    """The real table (distilled from the bundled MiniLM on first use, cached)."""
    emb = static_embedder()
    v = emb.embed(
        [
            "What is the capital city of France?",
            "Which city is the capital of France?",
            "Solve for x: 3x + 5 = 20.",
        ]
    )
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    # speed per decision is measured by benchmarks/decision_latency.py, not asserted here
