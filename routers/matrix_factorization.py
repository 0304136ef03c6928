"""Matrix factorisation router (RouteLLM's best-performing learned router).

A bilinear score ``s(q, m) = w . (v_m * (W q)) + b_m`` couples a projected prompt embedding
``W q`` with a learned vector ``v_m`` per model, so that "which kinds of prompt each model is good
at" is a low-rank factorisation of the (prompt x model) quality table. It is trained with torch on
two losses at once: pairwise (``sigmoid(s(q,a) - s(q,b))`` = P(a beats b), ties as 0.5 targets,
as in RouteLLM) and pointwise (``sigmoid(s(q,m))`` = quality of model m), so predicted quality is
a calibrated probability and not just a ranking. Inference is plain numpy: torch is only imported
by ``fit``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import check_min_int, check_non_negative
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data
from routegraph.routers.progress import training_progress
from routegraph.routers.sw_ranking import pair_index


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class MatrixFactorizationRouter(EmbeddingRouter):
    """Bilinear prompt x model scores, trained on pairwise and pointwise labels."""

    kind = "matrix_factorization"

    def __init__(
        self,
        dim: int = 64,
        epochs: int = 60,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        pair_weight: float = 1.0,
        batch_size: int = 512,
        seed: int = 0,
        embedder=None,
        show_progress: bool = True,
    ):
        super().__init__(embedder)
        self.dim = check_min_int("dim", dim, 1)
        self.epochs = check_min_int("epochs", epochs, 1)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.pair_weight = check_non_negative("pair_weight", pair_weight)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.show_progress = bool(show_progress)

    def _params(self) -> dict:
        return {
            "dim": self.dim,
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "pair_weight": self.pair_weight,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }

    def fit(self, data: RoutingDataset) -> MatrixFactorizationRouter:
        check_training_data(data)
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: one thread beats two fighting for 2 cores
        try:
            self._fit_torch(torch, data)
        finally:
            torch.set_num_threads(threads)
        self.meta_ = base_meta(
            data,
            "pointwise quality (BCE) + pairwise battles (ties as 0.5 targets)",
            **self._embedding_meta(),
        )
        return self

    def _fit_torch(self, torch, data: RoutingDataset) -> None:
        torch.manual_seed(self.seed)
        self.models_ = list(data.models)
        x = torch.from_numpy(self.embed(data.prompts))
        q = torch.from_numpy(np.asarray(data.quality, dtype=np.float32))
        n_models = q.shape[1]
        a_idx, b_idx = (torch.from_numpy(i) for i in pair_index(n_models))

        proj = torch.nn.Linear(x.shape[1], self.dim, bias=False)
        model_vecs = torch.nn.Parameter(torch.randn(n_models, self.dim) * 0.1 + 1.0)
        head = torch.nn.Parameter(torch.randn(self.dim) * 0.1)
        bias = torch.nn.Parameter(torch.zeros(n_models))
        params = [*proj.parameters(), model_vecs, head, bias]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

        def scores(batch: torch.Tensor) -> torch.Tensor:
            z = proj(batch)  # (B, dim)
            return (z[:, None, :] * model_vecs[None, :, :]) @ head + bias  # (B, M)

        gen = torch.Generator().manual_seed(self.seed)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        with training_progress(self.show_progress) as progress:
            task = progress.add_task("fitting matrix factorisation", total=self.epochs)
            for _ in range(self.epochs):
                order = torch.randperm(len(x), generator=gen)
                for start in range(0, len(x), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    s, y = scores(x[rows]), q[rows]
                    known = torch.isfinite(y)
                    loss = bce(s[known], y[known])
                    if self.pair_weight > 0 and n_models > 1:
                        ya, yb = y[:, a_idx], y[:, b_idx]
                        ok = torch.isfinite(ya) & torch.isfinite(yb)
                        target = torch.where(ya > yb, 1.0, torch.where(ya < yb, 0.0, 0.5))
                        diff = s[:, a_idx] - s[:, b_idx]
                        if ok.any():
                            loss = loss + self.pair_weight * bce(diff[ok], target[ok])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                progress.update(task, advance=1, description=f"MF loss {loss.item():.3f}")

        with torch.no_grad():
            self.projection_ = proj.weight.numpy().astype(np.float32).copy()
            self.model_vectors_ = model_vecs.numpy().astype(np.float32).copy()
            self.head_ = head.numpy().astype(np.float32).copy()
            self.bias_ = bias.numpy().astype(np.float32).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "projection": self.projection_,
            "model_vectors": self.model_vectors_,
            "head": self.head_,
            "bias": self.bias_,
        }

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.projection_ = arrays["projection"]
        self.model_vectors_ = arrays["model_vectors"]
        self.head_ = arrays["head"]
        self.bias_ = arrays["bias"]

    def logits_from_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        """Scores ``s(q, m)`` for precomputed query embeddings, shape ``(n, M)``."""
        self._check_fitted()
        z = vectors @ self.projection_.T
        return (z[:, None, :] * self.model_vectors_[None, :, :]) @ self.head_ + self.bias_

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        return _sigmoid(self.logits_from_embeddings(self.embed(prompts)))

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        """RouteLLM's MF win rate: ``sigmoid(s(q, strong) - s(q, weak))``."""
        i, j = self.strong_weak_columns(strong, weak)
        s = self.logits_from_embeddings(self.embed(prompts))
        return _sigmoid(s[:, i] - s[:, j])
