"""Whole graphs on real recorded answers: GPT-4-1106-preview and Mixtral-8x7B on GSM8K.

Replay makes the routing graphs measurable offline: each call returns the answer a real model
gave to the benchmark prompt, with token usage counted from the recorded text, and the
"reference" evaluator scores it against the gold answer. Every cost must be usage x catalog
price.

The cascade is gated by the learned verifier, which sees only the question and the weak answer
(never the gold answer or the recorded grade), on GSM8K test rows it was not trained on. Gated
by the "reference" evaluator instead, "the cascade is at least as accurate as the weak model"
would hold by construction (it escalates exactly the wrong answers); gated by a verifier that
can err, escalating a right weak answer to a wrong strong one loses accuracy, so the claim can
fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest
from langchain_core.messages import HumanMessage

from tests.conftest import shared_data

WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"
SAMPLE_SIZE = 20
CONTEXT: dict[str, Any] = {
    "weak_model": WEAK,
    "strong_model": STRONG,
    "models": [WEAK, STRONG],
    "evaluator": "reference",
    "router": "heuristic",
    # GSM8K word problems are all past the heuristic's everyday easy / hard boundary (0.5);
    # a cut among them (difficulties 0.62-0.91 on this sample) sends some to each model
    "threshold": 0.73,
    "confidence_threshold": 0.5,
}


@dataclass(frozen=True)
class Item:
    """One GSM8K prompt with what each model recorded for it."""

    row: int
    prompt: str
    recorded: dict[str, float]
    """Catalog name -> recorded correctness (1.0 / 0.0)."""
    responses: dict[str, str]
    tokens: dict[str, tuple[int, int]]
    """Catalog name -> recorded (input, output) token counts."""


MISGRADED = {(195, STRONG)}
"""(row, model) pairs of the sample whose recorded correctness is 0 for a right answer."""


def recorded_items(rows: Any) -> list[Item]:
    """The GSM8K rows ``rows`` with what WEAK and STRONG recorded for them."""
    from routegraph.core.catalog import load_catalog
    from routegraph.core.data import load_dataset

    data = load_dataset("gsm8k")
    catalog = load_catalog()
    columns = {name: data.models.index(catalog.get(name).model) for name in (WEAK, STRONG)}
    assert data.responses is not None
    assert data.input_tokens is not None and data.output_tokens is not None
    return [
        Item(
            row=row,
            prompt=data.prompts[row],
            recorded={name: float(data.quality[row, col]) for name, col in columns.items()},
            responses={name: cast(str, data.responses[row][col]) for name, col in columns.items()},
            tokens={
                name: (int(data.input_tokens[row, col]), int(data.output_tokens[row, col]))
                for name, col in columns.items()
            },
        )
        for row in rows
    ]


@pytest.fixture(scope="module")
def gsm8k_sample() -> list[Item]:
    """Twenty GSM8K prompts spread evenly over the 1,319 (deterministic, no RNG)."""
    shared_data("routellm", "gsm8k")
    from routegraph.core.data import load_dataset

    step = len(load_dataset("gsm8k").prompts) // SAMPLE_SIZE
    return recorded_items(range(0, step * SAMPLE_SIZE, step))


@pytest.fixture(scope="module")
def gsm8k_unseen_sample() -> list[Item]:
    """GSM8K's test split (``train_val_test_split(seed=0)``, 264 prompts), which the shipped
    verifier never saw in training (scripts/train_default_verifier.py)."""
    shared_data("routellm", "gsm8k")
    from routegraph.core.data import load_dataset
    from routegraph.core.data.splits import train_val_test_split

    _, _, test = train_val_test_split(load_dataset("gsm8k"), seed=0)
    return recorded_items(test.tolist())


@pytest.fixture
def catalog(no_cloud: None) -> Any:
    from routegraph.core.catalog import load_catalog

    return load_catalog()


def run(graph: Any, prompt: str, **overrides: Any) -> dict[str, Any]:
    return graph.invoke({"messages": [HumanMessage(prompt)]}, context={**CONTEXT, **overrides})


def check_costs(out: dict[str, Any], catalog: Any) -> None:
    """Every attempt costs usage x catalog price; the run's cost is their sum."""
    for attempt in out["attempts"]:
        spec = catalog.get(attempt["served_by"])
        assert attempt["input_tokens"] > 0 and attempt["output_tokens"] > 0
        expected = spec.cost(attempt["input_tokens"], attempt["output_tokens"])
        assert attempt["cost_usd"] == pytest.approx(expected, rel=1e-12)
    total = sum(a["cost_usd"] for a in out["attempts"])
    assert out["cost_usd"] == pytest.approx(total, rel=1e-12)
    meta = out["messages"][-1].response_metadata["routegraph"]
    assert meta["cost_usd"] == pytest.approx(total, abs=1e-8)


def test_simple_graph_routes_between_recorded_models(gsm8k_sample: list[Item], catalog) -> None:
    from routegraph.graphs.simple import build_simple_graph

    graph = build_simple_graph()
    chosen = []
    for item in gsm8k_sample:
        out = run(graph, item.prompt)
        decision = out["decisions"][0]
        strong = decision["scores"]["p_strong"] > CONTEXT["threshold"]
        model = STRONG if strong else WEAK
        [attempt] = out["attempts"]
        assert decision["chosen_model"] == attempt["model"] == attempt["served_by"] == model
        assert attempt["source"] == "recorded"
        assert attempt["answer"] == item.responses[model]
        # The gold-answer scorer agrees with the benchmark's own grading on this sample, except
        # where that grading is wrong (row 195: GPT-4 answered "$12.00", gold 12, recorded 0).
        expected = 1.0 if (item.row, model) in MISGRADED else item.recorded[model]
        assert attempt["confidence"] == expected, item.row
        check_costs(out, catalog)
        meta = out["messages"][-1].response_metadata["routegraph"]
        assert meta["chosen_model"] == model and meta["source"] == "recorded"
        assert meta["steps"] == 1 and meta["escalated"] is False
        chosen.append(model)
    assert set(chosen) == {WEAK, STRONG}, "the heuristic router should use both models here"


def test_verifier_gated_cascade_is_at_least_as_accurate_as_the_weak_model(
    gsm8k_unseen_sample: list[Item], catalog
) -> None:
    from routegraph.evaluators.verifier import LearnedVerifier
    from routegraph.graphs.cascade import build_cascade_graph

    graph = build_cascade_graph()
    verifier = LearnedVerifier.default()
    cut = CONTEXT["confidence_threshold"]
    cascade_correct, weak_correct, escalations = [], [], []
    cascade_cost, always_strong_cost = 0.0, 0.0
    for item in gsm8k_unseen_sample:
        out = run(graph, item.prompt, evaluator="verifier")
        attempts = out["attempts"]
        assert all(a["source"] == "recorded" for a in attempts)
        assert attempts[0]["model"] == WEAK and attempts[0]["answer"] == item.responses[WEAK]
        # the gate is the verifier's P(good) of the weak answer, read from the question and the
        # answer alone (attempts record it to 6 decimals)
        p_good = float(verifier.predict_proba([item.prompt], [item.responses[WEAK]])[0])
        assert attempts[0]["confidence"] == pytest.approx(p_good, abs=1e-6)
        escalated = p_good < cut
        assert [a["model"] for a in attempts] == ([WEAK, STRONG] if escalated else [WEAK])
        check_costs(out, catalog)

        meta = out["messages"][-1].response_metadata["routegraph"]
        assert meta["chosen_model"] == attempts[-1]["model"]
        assert meta["escalated"] is escalated
        cascade_correct.append(item.recorded[meta["chosen_model"]])
        weak_correct.append(item.recorded[WEAK])
        escalations.append(escalated)
        cascade_cost += meta["cost_usd"]
        always_strong_cost += catalog.get(STRONG).cost(*item.tokens[STRONG])

    n = len(gsm8k_unseen_sample)
    cascade_acc, weak_acc = sum(cascade_correct) / n, sum(weak_correct) / n
    assert cascade_acc >= weak_acc
    assert cascade_acc > weak_acc, "some wrong weak answers should have been escalated"
    # The verifier escalates mostly wrong answers: the weak model is right far less often on
    # the prompts it escalated than on those it kept.
    escalated_right = [w for w, e in zip(weak_correct, escalations, strict=True) if e]
    kept_right = [w for w, e in zip(weak_correct, escalations, strict=True) if not e]
    assert 0 < len(escalated_right) < n
    assert sum(escalated_right) / len(escalated_right) < sum(kept_right) / len(kept_right)
    # Escalating only the doubtful answers is cheaper than sending everything to GPT-4.
    assert 0 < cascade_cost < always_strong_cost


def test_unrecorded_prompt_ends_with_a_note_not_an_exception(catalog) -> None:
    shared_data("routellm", "gsm8k")
    from routegraph.graphs.simple import build_simple_graph

    out = run(build_simple_graph(), "Tell me a joke about routers that nobody ever recorded.")

    meta = out["messages"][-1].response_metadata["routegraph"]
    assert meta["chosen_model"] is None and meta["cost_usd"] == 0.0
    assert all(a["source"] == "unavailable" for a in out["attempts"])
    assert out["messages"][-1].text.startswith("No model could answer")
    assert any("no recorded answer" in note for note in meta["notes"])


def test_cloud_without_endpoint_falls_back_to_recorded_gpt4(
    gsm8k_sample: list[Item], catalog
) -> None:
    from routegraph.graphs.hybrid import build_hybrid_graph

    item = gsm8k_sample[0]
    out = build_hybrid_graph().invoke(
        {"messages": [HumanMessage(item.prompt)]},
        context={"router": "heuristic", "threshold": 0.0, "evaluator": "reference"},
    )

    [attempt] = out["attempts"]
    assert attempt["model"] == "cloud" and attempt["served_by"] == STRONG
    assert attempt["source"] == "recorded" and attempt["answer"] == item.responses[STRONG]
    assert (
        "OPENAI_API_KEY" in attempt["note"] and "answered by gpt-4-1106-preview" in attempt["note"]
    )
    check_costs(out, catalog)  # priced as GPT-4, the model that answered, not as 'cloud'
    meta = out["messages"][-1].response_metadata["routegraph"]
    assert meta["cloud_used"] is True and meta["served_by"] == STRONG
