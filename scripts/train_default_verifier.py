"""Train the learned verifier shipped in ``routegraph/artifacts/verifier/default``.

Training data: the recorded answers of every model, with their correctness, on the *training*
rows only (``train_val_test_split(ds, seed=0)``) of

* GSM8K: by default only the weak model's (Mixtral-8x7B) chain-of-thought answers, the ones a
  weak -> strong cascade gates, carrying 70 % of the sample weight (``--gsm8k-models both`` adds
  GPT-4's; 5-fold CV preferred weak-only: AUC 0.806 vs 0.784);
* MMLU-Pro (up to ``--mmlu-pro-per-model`` answers per model; correct = ``pred == answer``),
* MT-Bench (both models; "good" = GPT-4 judge score >= 8 of 10).

Why the validation rows are held out: ``routegraph bench`` places the graphs' operating points
(cascade confidence cut-offs) at quantiles of the verifier's scores on the *validation* split
and fits cascade routing's per-model quality calibration there. A verifier trained on those
rows scores them in-sample (over-confident, better separated than on unseen prompts), so
anything "chosen on validation" would really be chosen on training data and would not carry
over to the test prompts. The 5-fold CV report runs over the GSM8K training rows.

GSM8K test rows are never seen; the script reports on them the verifier's AUC on the weak
model's answers and the cascade weak -> strong gated by the verifier: strong-call share vs PGR,
and the share needed for 80 % PGR. Those numbers are stored in ``verifier.json`` under
``meta.gsm8k_test``.

    python scripts/train_default_verifier.py            # writes the default artifact
    python scripts/train_default_verifier.py --out /tmp/v --sources gsm8k   # GSM8K only
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from routegraph.core.data import load_dataset
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.splits import train_val_test_split
from routegraph.core.errors import DataFormatError
from routegraph.core.metrics import cpt, escalation_pgr, pgr
from routegraph.evaluators.verifier import LearnedVerifier, default_artifact_dir

SOURCES = ("gsm8k", "mmlu_pro", "mt_bench")
MT_BENCH_GOOD = 0.8  # judge score 8/10 or better counts as a good answer


@dataclass
class Answers:
    """Recorded answers with their 0/1 labels, the source and (for GSM8K) the prompt row."""

    queries: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    row: list[int] = field(default_factory=list)

    def take(self, keep: np.ndarray) -> Answers:
        idx = np.flatnonzero(keep)
        return Answers(
            queries=[self.queries[i] for i in idx],
            answers=[self.answers[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            source=[self.source[i] for i in idx],
            row=[self.row[i] for i in idx],
        )

    def extend(self, other: Answers) -> None:
        self.queries += other.queries
        self.answers += other.answers
        self.labels += other.labels
        self.source += other.source
        self.row += other.row

    def weights(self, gsm8k_share: float) -> np.ndarray:
        """Per-answer weights giving GSM8K ``gsm8k_share`` of the total, the rest by count."""
        is_gsm8k = np.asarray(self.source) == "gsm8k"
        n_g, n_o = is_gsm8k.sum(), (~is_gsm8k).sum()
        if not n_g or not n_o:
            return np.ones(len(self.labels))
        w = np.where(is_gsm8k, gsm8k_share / n_g, (1.0 - gsm8k_share) / n_o)
        return w * len(w)


def gsm8k_two_models() -> tuple[RoutingDataset, list[list[str | None]], int, int]:
    """GSM8K, its recorded answers and the weak / strong column indices."""
    ds = load_dataset("gsm8k")
    if ds.responses is None or ds.weak_model is None or ds.strong_model is None:
        raise DataFormatError("gsm8k: the loader returned no answers or no weak/strong models")
    return ds, ds.responses, ds.models.index(ds.weak_model), ds.models.index(ds.strong_model)


def training_answers(
    name: str, per_model: int | None, seed: int, only_model: str | None = None
) -> Answers:
    """Recorded answers (every model's, or ``only_model``'s) on the training rows of ``name``.

    The validation rows are left out: the benchmark calibrates on them (see the module doc).
    """
    ds = load_dataset(name)
    rows, _, _ = train_val_test_split(ds, seed=0)
    rng = np.random.default_rng(seed)
    out = Answers()
    if ds.responses is None:
        return out
    responses = ds.responses
    for j, model in enumerate(ds.models):
        if only_model is not None and model != only_model:
            continue
        have = [i for i in rows if responses[i][j] and not np.isnan(ds.quality[i, j])]
        if per_model is not None and len(have) > per_model:
            have = sorted(rng.choice(have, per_model, replace=False).tolist())
        for i in have:
            quality = float(ds.quality[i, j])
            out.queries.append(ds.prompts[i])
            out.answers.append(responses[i][j] or "")
            out.labels.append(float(quality >= MT_BENCH_GOOD) if name == "mt_bench" else quality)
            out.source.append(name)
            out.row.append(int(i))
    return out


def cross_validate_gsm8k(data: Answers, folds: int, gsm8k_share: float, seed: int) -> dict:
    """K-fold over the GSM8K training prompts: AUC and share for 80 % PGR on held-out weak answers.

    A steadier estimate than the 264-prompt test split alone; other sources stay in training.
    """
    ds, responses, w, s = gsm8k_two_models()
    rows = np.asarray(data.row)
    is_gsm8k = np.asarray(data.source) == "gsm8k"
    prompt_rows = np.unique(rows[is_gsm8k])
    fold_of = dict(
        zip(
            prompt_rows.tolist(),
            np.random.default_rng(seed).permutation(len(prompt_rows)) % folds,
            strict=True,
        )
    )
    confidence = np.zeros(len(prompt_rows))
    position = {r: k for k, r in enumerate(prompt_rows.tolist())}
    for fold in range(folds):
        held = np.array([is_gsm8k[k] and fold_of[rows[k]] == fold for k in range(len(rows))])
        train = data.take(~held)
        verifier = LearnedVerifier(seed=seed).fit(
            train.queries, train.answers, train.labels, sample_weight=train.weights(gsm8k_share)
        )
        test_rows = [r for r in prompt_rows.tolist() if fold_of[r] == fold]
        p = verifier.predict_proba(
            [ds.prompts[r] for r in test_rows], [responses[r][w] or "" for r in test_rows]
        )
        confidence[[position[r] for r in test_rows]] = p
    weak, strong = ds.quality[prompt_rows, w], ds.quality[prompt_rows, s]
    return {
        "folds": folds,
        "n": len(prompt_rows),
        "auc_weak_answers": roc_auc(weak, confidence),
        "strong_share_for_pgr_0.8": cpt(*escalation_pgr(confidence, weak, strong), 0.8),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def evaluate_gsm8k(verifier: LearnedVerifier, console: Console) -> dict:
    """AUC and the cascade trade-off on the GSM8K test split (weak answers gated)."""
    ds, responses, w, s = gsm8k_two_models()
    _, _, test = train_val_test_split(ds, seed=0)
    queries = [ds.prompts[i] for i in test]
    answers = [responses[i][w] or "" for i in test]
    weak, strong = ds.quality[test, w], ds.quality[test, s]
    start = time.perf_counter()
    confidence = verifier.predict_proba(queries, answers)
    per_answer_ms = 1000 * (time.perf_counter() - start) / len(test)
    share, gains = escalation_pgr(confidence, weak, strong)
    table = Table(title=f"GSM8K test ({len(test)} prompts): cascade weak -> strong")
    for column in ("escalate if p <", "strong share", "PGR", "accuracy"):
        table.add_column(column, justify="right")
    sweep = []
    for threshold in np.round(np.arange(0.3, 0.96, 0.05), 2):
        escalate = confidence < threshold
        accuracy = float(np.where(escalate, strong, weak).mean())
        gain = float(pgr(accuracy, strong.mean(), weak.mean()))
        sweep.append(
            {
                "threshold": float(threshold),
                "strong_share": float(escalate.mean()),
                "pgr": float(gain),
                "accuracy": accuracy,
            }
        )
        table.add_row(
            f"{threshold:.2f}", f"{escalate.mean():.3f}", f"{gain:.3f}", f"{accuracy:.3f}"
        )
    console.print(table)
    result = {
        "n": len(test),
        "weak_accuracy": float(weak.mean()),
        "strong_accuracy": float(strong.mean()),
        "auc_weak_answers": roc_auc(weak, confidence),
        "strong_share_for_pgr_0.8": cpt(share, gains, 0.8),
        "strong_share_for_pgr_0.5": cpt(share, gains, 0.5),
        "pgr_at_strong_share_0.4": float(np.interp(0.4, share, gains)),
        "random_expected_share_for_pgr_0.8": 0.8,
        "ms_per_answer": per_answer_ms,
        "threshold_sweep": sweep,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=default_artifact_dir(),
        help="artifact folder (default: the shipped default)",
    )
    parser.add_argument(
        "--sources",
        nargs="+",
        default=list(SOURCES),
        choices=SOURCES,
        help="datasets whose recorded answers to train on",
    )
    parser.add_argument(
        "--mmlu-pro-per-model",
        type=int,
        default=500,
        help="MMLU-Pro answers sampled per model (keeps GSM8K dominant)",
    )
    parser.add_argument(
        "--gsm8k-share",
        type=float,
        default=0.7,
        help="share of the total sample weight carried by GSM8K answers",
    )
    parser.add_argument(
        "--gsm8k-models",
        choices=("both", "weak"),
        default="weak",
        help="train on both models' GSM8K answers or only the weak model's",
    )
    parser.add_argument(
        "--cv-folds",
        type=int,
        default=5,
        help="K-fold CV on the GSM8K training rows before the final fit (0 to skip)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    console = Console()

    data = Answers()
    counts = {}
    for name in args.sources:
        per_model = args.mmlu_pro_per_model if name == "mmlu_pro" else None
        only = None
        if name == "gsm8k" and args.gsm8k_models == "weak":
            only = load_dataset("gsm8k").weak_model
        with console.status(f"loading {name}"):
            part = training_answers(name, per_model, args.seed, only_model=only)
        data.extend(part)
        counts[name] = len(part.labels)
        console.print(f"{name}: {len(part.labels)} answers, {np.mean(part.labels):.3f} good")

    cv = None
    if args.cv_folds > 1:
        with console.status(f"{args.cv_folds}-fold cross-validation on the GSM8K training rows"):
            cv = cross_validate_gsm8k(data, args.cv_folds, args.gsm8k_share, args.seed)
        console.print(
            f"GSM8K train CV: AUC {cv['auc_weak_answers']:.3f}, strong share for "
            f"80% PGR {cv['strong_share_for_pgr_0.8']:.3f}"
        )
    start = time.perf_counter()
    verifier = LearnedVerifier(seed=args.seed).fit(
        data.queries, data.answers, data.labels, sample_weight=data.weights(args.gsm8k_share)
    )
    fit_s = time.perf_counter() - start
    console.print(f"fitted on {len(data.labels)} answers in {fit_s:.1f} s")
    results = evaluate_gsm8k(verifier, console)
    verifier.meta_.update(
        {
            "sources": counts,
            "fit_seconds": round(fit_s, 1),
            "gsm8k_share_of_weight": args.gsm8k_share,
            "gsm8k_models": args.gsm8k_models,
            "gsm8k_test": results,
            "gsm8k_cv": cv,
            "reproduce": "python scripts/train_default_verifier.py",
        }
    )
    verifier.save(args.out)
    console.print(
        f"GSM8K test: AUC {results['auc_weak_answers']:.3f}, strong share for 80% PGR "
        f"{results['strong_share_for_pgr_0.8']:.3f}, PGR at 40% strong "
        f"{results['pgr_at_strong_share_0.4']:.3f}, {results['ms_per_answer']:.2f} ms/answer"
    )
    console.print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
