"""``/dashboard``: the figures from the outcome log, who may read them, and the page in a real
browser (Chromium from the system's packages, driven by Playwright).

Seeded traffic goes through the real HTTP app on fake models with known prices, so every
figure on the page has a value computed by hand here: two requests of key B answered by
'large' (10 / 30 USD per million tokens, 100 + 50 tokens: $0.0025 each), three of key A
answered by the free 'small'. The always-strongest baseline prices every answer's tokens at
'large': 5 x $0.0025 = $0.0125; spend $0.0050; saved $0.0075 (60%).
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from routegraph.app.server.dashboard import psi, summarize
from routegraph.app.server.keys import KeyRing, create_key
from tests.conftest import free_port
from tests.test_team_serving import TO_LARGE, app_with, post

PER_CALL = 0.0025
RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def record(minutes_ago: float, now: datetime, **fields: Any) -> dict[str, Any]:
    base = {
        "created_at": (now - timedelta(minutes=minutes_ago)).isoformat(),
        "graph": "simple", "key": "key-a", "chosen_model": "small", "cost_usd": 0.0,
        "baseline_cost_usd": PER_CALL, "p_strong": 0.2, "ood": {"ood": 0.1}, "feedback": None,
        "calls": [{"model": "small", "chosen": True, "confidence": 0.9, "latency_s": 0.1}],
        "faults": [],
    }  # fmt: skip
    return {**base, **fields}


def test_the_figures_are_the_log_summed_by_hand() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    large = [{"model": "small", "chosen": False, "confidence": 0.2, "latency_s": 0.1},
             {"model": "large", "chosen": True, "confidence": 0.95, "latency_s": 1.0}]  # fmt: skip
    records = [
        record(10, now),
        record(20, now, feedback={"score": 1.0}),
        record(
            30,
            now,
            key="key-b",
            chosen_model="large",
            cost_usd=PER_CALL,
            calls=large,
            faults=["timeout"],
            feedback={"score": 0.0},
        ),  # fmt: skip
        record(60 * 30, now),  # outside the 24-hour window (in the previous one)
    ]
    figures = summarize(records, hours=24, now=now)
    totals = figures["totals"]
    assert totals["requests"] == 3 and totals["answered"] == 3
    assert totals["cost_usd"] == pytest.approx(PER_CALL)
    assert totals["baseline_usd"] == pytest.approx(3 * PER_CALL)
    assert totals["saved_usd"] == pytest.approx(2 * PER_CALL) and totals["saved_pct"] == 66.7
    assert totals["escalation_rate"] == 0.3333  # one of three answers needed a second call
    assert (totals["feedback_mean"], totals["feedback_n"]) == (0.5, 2)
    assert figures["model_mix"] == {"small": 2, "large": 1}
    assert figures["faults"] == {"timeout": 1}
    assert figures["latency"]["large"] == {"n": 1, "p50_s": 1.0, "p95_s": 1.0}
    assert figures["confidence"]["counts"][9] == 3  # the three accepted answers: 0.9, 0.9, 0.95
    assert [r["key"] for r in figures["per_key"]] == ["key-a", "key-b"]
    assert sum(figures["series"]["requests"]) == 3
    only_b = summarize(records, hours=24, now=now, key="key-b")["totals"]
    assert (only_b["requests"], only_b["saved_usd"]) == (1, 0.0)
    assert figures["filters"]["keys"] == ["key-a", "key-b"]


def test_drift_alarms_when_p_strong_and_novelty_shift() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    rng = np.random.default_rng(0)
    before = [record(60 * 24 + 30 + i, now, p_strong=float(p), ood={"ood": 0.1})
              for i, p in enumerate(rng.uniform(0.0, 0.4, 60))]  # fmt: skip
    after = [record(10 + i, now, p_strong=float(p), ood={"ood": 0.8 if i % 2 else 0.1})
             for i, p in enumerate(rng.uniform(0.5, 1.0, 60))]  # fmt: skip
    validation = rng.uniform(0.0, 0.4, 500).tolist()
    drift = summarize(before + after, hours=24, now=now, reference_p_strong=validation)["drift"]
    assert drift["psi_previous"] > 0.2 and drift["psi_validation"] > 0.2
    assert (drift["ood_share"], drift["ood_share_previous"]) == (0.5, 0.0)
    assert len(drift["alarms"]) == 4
    calm = summarize(before, hours=24, now=now - timedelta(hours=25), reference_p_strong=validation)
    assert calm["drift"]["alarms"] == []  # same distribution as validation: no alarm
    assert psi(np.arange(10.0), np.arange(10.0)) is None  # too few to say anything


def seed(http: Any, key_a: str, key_b: str) -> None:
    for _ in range(3):
        assert post(http, key_a, routegraph={**TO_LARGE, "threshold": 1.0}).status_code == 200
    for _ in range(2):
        assert post(http, key_b).status_code == 200


def test_dashboard_data_needs_an_admin_key_and_counts_the_seeded_traffic(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key_a, entry_a = create_key(path, "a")
    key_b, _ = create_key(path, "b")
    admin, _ = create_key(path, "ops", admin=True)
    with TestClient(app_with(tmp_path, KeyRing(path), db=str(tmp_path / "log.sqlite"))) as http:
        seed(http, key_a, key_b)
        assert http.get("/dashboard/data").status_code == 401
        refused = http.get("/dashboard/data", headers={"authorization": f"Bearer {key_a}"})
        assert refused.status_code == 403
        auth = {"authorization": f"Bearer {admin}"}
        assert http.get("/dashboard/data?hours=x", headers=auth).status_code == 400
        figures = http.get("/dashboard/data", headers=auth).json()
        assert http.get("/dashboard").status_code == 200  # the page itself holds no data
        assert http.get("/dashboard/static/../keys.json").status_code == 404
    totals = figures["totals"]
    assert totals["requests"] == 5
    assert totals["cost_usd"] == pytest.approx(2 * PER_CALL)
    assert totals["saved_usd"] == pytest.approx(3 * PER_CALL) and totals["saved_pct"] == 60.0
    assert figures["model_mix"] == {"small": 3, "large": 2}
    assert {r["key"]: r["requests"] for r in figures["per_key"]}[entry_a.id] == 3


@pytest.mark.slow
def test_the_dashboard_in_a_real_browser(tmp_path: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, (
        "Chromium is missing: run scripts/ensure-chromium.sh (apt-get install chromium)"
    )
    path = tmp_path / "keys.json"
    key_a, entry_a = create_key(path, "a")
    key_b, _ = create_key(path, "b")
    admin, _ = create_key(path, "ops", admin=True)
    app = app_with(tmp_path, KeyRing(path), db=str(tmp_path / "log.sqlite"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=60) as http:
            seed(http, key_a, key_b)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/dashboard")
            page.wait_for_selector("#status:has-text('API key')")  # asks before any figure
            page.fill("#apikey", admin)
            page.click("button[type=submit]")
            page.wait_for_function("document.body.dataset.loaded !== undefined")
            tile = lambda name: page.inner_text(f'[data-testid="{name}"]')  # noqa: E731
            assert tile("requests") == "5"
            assert (tile("cost"), tile("baseline"), tile("saved")) == (
                "$0.0050", "$0.0125", "$0.0075")  # fmt: skip
            assert tile("saved-pct") == "60.0%"
            assert "small" in page.inner_text('[data-testid="recent"]')
            RESULTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(RESULTS / "dashboard.png"), full_page=True)
            loaded = page.evaluate("document.body.dataset.loaded")
            page.select_option("#key", entry_a.id)  # key A alone: three free answers
            page.wait_for_function(f"document.body.dataset.loaded !== '{loaded}'")
            assert (tile("requests"), tile("cost"), tile("saved")) == ("3", "$0.0000", "$0.0075")
            assert tile("saved-pct") == "100.0%"
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
