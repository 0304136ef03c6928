"""Training and scoring speed of the two neural routers on this CPU (not a test: run it by hand).

    nice -n 10 python benchmarks/router_training.py --steps 10

Trains on real MMLU prompts (the router tests' 300-prompt subset) for ``--steps`` optimiser
steps and reports seconds per step, then times scoring 48 held-out prompts. The causal-LLM
router is measured with LoRA adapters on all 30 SmolLM2 layers and on the top 10 (the default):
gradients stop below the lowest adapted layer, which is what makes the default cheaper.
Writes ``benchmarks/results/router_training.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.routers_data import mmlu_subset  # noqa: E402

SCORED = 48


def measure(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fit ``name`` for a fixed number of steps on the subset; time fitting and scoring."""
    from routegraph.routers.registry import make_router

    train, test = mmlu_subset()
    router = make_router(name, show_progress=False, **params)
    started = time.perf_counter()
    router.fit(train)
    fit_s = time.perf_counter() - started
    steps = len(getattr(router, "loss_history_", []))
    prompts = test.prompts[:SCORED]
    started = time.perf_counter()
    router.predict_quality(prompts)
    score_s = time.perf_counter() - started
    return {
        "router": name,
        "params": params,
        "steps": steps,
        "fit_s": round(fit_s, 2),
        "s_per_step": round(router.meta_.get("train_seconds", fit_s) / steps, 3),
        "scored_prompts": len(prompts),
        "prompts_per_s": round(len(prompts) / score_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps per measurement")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/router_training.json"), help="JSON file"
    )
    args = parser.parse_args()

    from routegraph.routers.causal_llm import _base_model_and_tokenizer

    started = time.perf_counter()
    _base_model_and_tokenizer()  # load once, outside the timings
    load_s = time.perf_counter() - started
    common = {"max_length": 64, "batch_size": 8, "max_steps": args.steps}
    rows = [
        measure("causal_llm", {**common, "lora_layers": 30}),
        measure("causal_llm", {**common, "lora_layers": 10}),
        # the encoder has no max_steps: one epoch over the 300 prompts is 19 steps of 16
        measure("encoder_classifier", {"epochs": 1, "max_length": 64}),
    ]
    result = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "smollm2_gguf_load_s": round(load_s, 1),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for row in rows:
        print(
            f"{row['router']:<20} {json.dumps(row['params']):<70} "
            f"{row['s_per_step']:.2f} s/step, {row['prompts_per_s']:.1f} prompts/s scored"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
