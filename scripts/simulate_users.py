"""Simulated users for a running ``routegraph serve --db``: ask, then rate every answer.

Why: the README's feedback loop (serve -> feedback -> learn -> promote) needs traffic with
verdicts to show. This sends the dev half of ``tests/data/everyday_prompts.jsonl`` (every third
prompt, 40 in all: 20 easy, 20 hard) to the server and rates each answer with ``POST
/v1/feedback`` the way a user of a small model would: easy requests good (1), hard ones bad (0).
The ratings are scripted, not judged: this exercises the loop, it measures no model.
Exploration is the server's setting (``routegraph serve --db ... --set explore=0.3``): a request
may not ask for extra paid calls.

    python scripts/simulate_users.py --base http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx
from openai import OpenAI

PROMPTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "everyday_prompts.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="server URL (no /v1)")
    parser.add_argument("--model", default="router-default-0.5", help="served model id")
    parser.add_argument("--router", help="router setting for every request (e.g. a folder)")
    parser.add_argument("--count", type=int, default=40, help="requests to send (<= 40)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in PROMPTS.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "dev"][::3][: args.count]
    client = OpenAI(base_url=f"{args.base}/v1", api_key="unused", max_retries=0)
    settings: dict[str, object] = {}
    if args.router:
        settings["router"] = args.router
    started = time.time()
    for row in rows:
        reply = client.chat.completions.create(
            model=args.model,
            max_tokens=48,
            messages=[{"role": "user", "content": row["prompt"]}],
            extra_body={"routegraph": settings},
        )
        trace = (reply.model_extra or {})["routegraph"]
        score = 1.0 if row["label"] == "easy" else 0.0
        rated = httpx.post(f"{args.base}/v1/feedback", json={"id": reply.id, "score": score})
        if rated.status_code != 200:
            print(f"feedback refused: {rated.text}", file=sys.stderr)
            return 1
        explored = (trace.get("explored") or {}).get("model", "-")
        print(f"{row['label']:4}  answered by {trace['chosen_model']:12}  explored {explored}")
    print(f"{len(rows)} requests rated in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
