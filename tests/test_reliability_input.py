"""Bad input at the Python API and CLI doors: one clear error naming the field and what is
allowed (an ``InvalidInputError``, a ValueError, in Python; one line and exit code 2 on the
command line), never a traceback, and never a model call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from routegraph.core.errors import MAX_QUERY_CHARS, InvalidInputError
from routegraph.graphs.cascade import build_cascade_graph
from tests.conftest import PROJECT_ROOT
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog

BASE = {"models": ["small", "large"], "weak_model": "small", "strong_model": "large"}
MEGABYTE = "word " * (1024 * 1024 // 5)


@pytest.fixture
def models() -> dict[str, ScriptedChatModel]:
    return {"small": ScriptedChatModel(answers=["4"]), "large": ScriptedChatModel(answers=["4"])}


def invoke(fakes: dict[str, Any], messages: Any, **context: Any) -> dict[str, Any]:
    graph = build_cascade_graph(
        models=fakes, evaluator=TableEvaluator({}, 1.0), catalog=tiny_catalog()
    )
    return graph.invoke({"messages": messages}, context={**BASE, **context})


# --- Python API ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("messages", "field", "allowed"),
    [
        ([HumanMessage("")], "query", "a non-empty question"),
        ([HumanMessage("  \n\t ")], "query", "a non-empty question"),
        ([HumanMessage(MEGABYTE)], "query", f"at most {MAX_QUERY_CHARS:,} characters"),
        ([HumanMessage("caf\udce9")], "query", "UTF-8 text"),  # a lone surrogate
        (
            [
                HumanMessage(
                    content=[
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    ]
                )
            ],
            "messages",
            "text",
        ),
        ([("ai", "hello")], "messages", "a list ending in a user message"),
    ],
    ids=["empty", "blank", "1MB", "invalid-utf8", "image", "no-user-message"],
)
def test_bad_messages_are_refused_before_any_call(
    models: dict[str, ScriptedChatModel], messages: Any, field: str, allowed: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        invoke(models, messages)
    assert caught.value.field == field
    assert allowed in str(caught.value)
    assert str(caught.value).count("\n") == 0
    assert all(m.calls == 0 for m in models.values())


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"threshold": float("nan")}, "threshold"),
        ({"confidence_threshold": 1.5}, "confidence_threshold"),
        ({"budget_usd": float("nan")}, "budget_usd"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"cost_weight": float("nan")}, "cost_weight"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": "3"}, "max_steps"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"models": "small"}, "models"),
        ({"models": []}, "models"),
        ({"models": ["small", "nope"]}, "models"),
        ({"weak_model": "nope"}, "weak_model"),
        ({"tier_thresholds": 0.5}, "tier_thresholds"),
        ({"tier_thresholds": [0.5]}, "tier_thresholds"),
        ({"seed": "x"}, "seed"),
        ({"evaluator": "oracle"}, "evaluator"),
        ({"router": "nope"}, "router"),
        ({"tools": {"name": "x"}}, "tools"),
        ({"call_timeout_s": float("inf")}, "call_timeout_s"),
        ({"call_retries": 99}, "call_retries"),
        ({"temperatur": 0.5}, "context"),  # a typo is an unknown key, not silently ignored
    ],
)
def test_bad_context_values_name_the_field(
    models: dict[str, ScriptedChatModel], context: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        invoke(models, [HumanMessage("What is 2 + 2?")], **context)
    assert caught.value.field == field
    assert caught.value.allowed
    assert all(m.calls == 0 for m in models.values())


def test_the_runner_refuses_bad_queries_and_unknown_graphs() -> None:
    from routegraph.app.runner import run_graph

    with pytest.raises(InvalidInputError, match="query: is int"):
        run_graph("cascade", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at most"):
        run_graph("cascade", MEGABYTE)
    with pytest.raises(InvalidInputError) as caught:
        run_graph("nope", "hi")
    assert "cascade" in str(caught.value)  # the allowed graph ids are listed


# --- command line -------------------------------------------------------------------------
ASK = ["ask", "--graph", "cascade", "--router", "heuristic", "--evaluator", "none"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["", *ASK[1:]], "query: is empty or blank"),
        (["caf\udce9", *ASK[1:]], "query: is not valid UTF-8 text"),
        (["hi", *ASK[1:], "--budget-usd", "nan"], "budget_usd: nan is not a number"),
        (["hi", *ASK[1:], "--threshold", "inf"], "threshold: inf is outside [0, 1]"),
        (["hi", *ASK[1:], "--models", "nope"], "models: unknown model 'nope'"),
        (["hi", *ASK[1:], "--set", "tier_thresholds=0.5"], "tier_thresholds: 0.5 is not a list"),
        (["hi", *ASK[1:], "--set", 'models="cloud"'], "models: 'cloud' is not a list"),
        (["hi", *ASK[1:], "--set", "call_retries=-1"], "call_retries: -1 is out of range"),
    ],
)
def test_cli_bad_input_is_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from routegraph.app.cli import main

    code = main(["ask", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert words in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def run_cli(args: list[bytes], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The real ``routegraph`` console entry, with raw bytes as arguments."""
    code = "import sys; from routegraph.app.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable.encode(), b"-c", code.encode(), *args],
        input=stdin,
        capture_output=True,
        cwd=PROJECT_ROOT,
        timeout=240,
    )


def test_cli_invalid_utf8_bytes_in_argv_and_stdin() -> None:
    flags = [a.encode() for a in ASK[1:]]
    argv = run_cli([b"ask", b"\xff\xfe what?", *flags])
    assert argv.returncode == 2
    assert argv.stderr.strip().endswith(b"query: is not valid UTF-8 text; allowed: UTF-8 text")
    assert b"Traceback" not in argv.stderr

    stdin = run_cli([b"ask", b"-", *flags], stdin=b"caf\xe9?")
    assert stdin.returncode == 2
    assert b"question: stdin is not valid UTF-8 (byte 3)" in stdin.stderr
    assert b"Traceback" not in stdin.stderr


def test_cli_megabyte_prompt_on_stdin_is_refused_in_one_line() -> None:
    result = run_cli([b"ask", b"-", *[a.encode() for a in ASK[1:]]], stdin=MEGABYTE.encode())
    assert result.returncode == 2
    err = result.stderr.decode().strip()
    assert err.count("\n") == 0
    assert "query: is 1,048,575 characters long; allowed: at most 200,000 characters" in err


def test_cli_unknown_graph_is_an_argparse_error_not_a_traceback() -> None:
    result = run_cli([b"ask", b"hi", b"--graph", b"nope"])
    assert result.returncode == 2
    assert b"invalid choice: 'nope'" in result.stderr and b"Traceback" not in result.stderr


# --- train --data -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("csv", "words"),
    [
        ("", "empty file"),
        ("a,b\n1,2\n", "no 'prompt' column"),
        ("prompt,m,m|total_cost\nhi,abc,0.1\n", "column 'm' row 1: 'abc' is not a quality value"),
        ("prompt,m,m|total_cost\nhi,nan,0.1\n", "'nan' is not a quality value"),
        ("prompt,m,m|total_cost\nhi,1,abc\n", "'abc' is not a cost"),
        ("prompt,gpt-x\nhi,1\n", "its cost is unknown"),
    ],
    ids=["empty", "no-prompt", "non-numeric", "nan", "bad-cost", "missing-cost"],
)
def test_train_data_csv_errors_are_one_line(
    tmp_path: Path, csv: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from routegraph.app.cli import main

    data = tmp_path / "bench.csv"
    data.write_text(csv)
    code = main(["train", "random", "--data", str(data), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    line = [x for x in err.strip().splitlines() if "routegraph train: error" in x]
    assert len(line) == 1 and words in line[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
