"""`routegraph ask` / `models`: clear one-line errors for bad input, JSON output shape."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage

from routegraph.app.cli import main
from routegraph.core.errors import InvalidInputError
from routegraph.graphs.hybrid import build_hybrid_graph


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "field", "allowed"),
    [
        (["   "], "query", "non-empty"),
        (["hi", "--threshold", "1.5"], "threshold", "[0, 1]"),
        (["hi", "--confidence-threshold", "-0.1"], "confidence_threshold", "[0, 1]"),
        (["hi", "--budget-usd", "-1"], "budget_usd", ">= 0"),
        (["hi", "--max-steps", "0"], "max_steps", ">= 1"),
        (["hi", "--models", "smollm2-135m,nope"], "models", "smollm2-135m"),
        (["hi", "--evaluator", "vibes"], "evaluator", "logprob"),
        (["hi", "--router", "nope"], "router", "heuristic"),
        (["hi", "--set", "catalog_path=/nonexistent/catalog.toml"], "catalog", ""),
        (["hi", "--set", "colour=blue"], "context", "threshold"),
    ],
)
def test_bad_input_gives_one_line_error(capsys, argv, field, allowed) -> None:
    code, out, err = run_cli(capsys, "ask", *argv, "--graph", "simple")
    assert code == 2
    assert out == ""
    assert err.startswith(f"routegraph ask: error: {field}")
    assert allowed in err
    assert "Traceback" not in err


def test_unknown_graph_is_rejected_by_argparse(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ask", "hi", "--graph", "nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_unreadable_catalog_file(tmp_path, capsys) -> None:
    bad = tmp_path / "catalog.toml"
    bad.write_text("[models.x]\nprovider = 'carrier-pigeon'\n")
    code, _, err = run_cli(capsys, "models", "--catalog", str(bad))
    assert code == 2
    assert "models.x.provider: 'carrier-pigeon' is unknown" in err
    assert "llamacpp" in err


def test_non_text_message_content_is_rejected() -> None:
    graph = build_hybrid_graph()
    message = HumanMessage(content=[{"type": "image_url", "image_url": {"url": "x"}}])
    with pytest.raises(InvalidInputError, match="messages: the query has non-text content"):
        graph.invoke({"messages": [message]})


def test_models_lists_catalog_with_reachability(capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert rows["smollm2-135m"]["available"] is True
    assert rows["cloud"]["available"] is False
    assert "OPENAI_API_KEY" in rows["cloud"]["status"]
    assert rows["gpt-4-1106-preview"]["input_price"] == 10.0


@pytest.mark.slow
def test_ask_hybrid_json_answers_offline_with_local_model(capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, out, _ = run_cli(
        capsys, "ask", "What is the capital of France?", "--graph", "hybrid", "--json"
    )
    assert code == 0
    record = json.loads(out)
    assert "Paris" in record["answer"]
    assert record["graph"] == "hybrid"
    assert record["attempts"][0]["model"] == "smollm2-135m"
    assert record["attempts"][0]["source"] == "live"
    assert {"model", "confidence", "cost_usd"} <= set(record["attempts"][0])
    assert record["cost_usd"] == 0.0
    assert record["escalated"] is False and record["cloud_used"] is False
