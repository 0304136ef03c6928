"""A routegraph router as the classifier of LangChain's ModelRouterMiddleware.

The claim is the choice: inside ``create_agent``, the middleware must pick exactly the model the
shipped router picks on its own (P(strong needed) against the threshold), for an easy and a hard
request, at a numeric threshold and at a calibration stored in the artifact. The chat models
behind the two choices are scripted (they only say who answered); the router is the real shipped
one, resolved the way the graphs resolve it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import ModelChoice, ModelRouterMiddleware
from langchain_core.decisions import Box, Choice, Noul, Score
from langchain_core.messages import AIMessage, HumanMessage

from routegraph.app.decision_model import RouterDecisionModel, state_text
from routegraph.core.catalog import load_catalog
from routegraph.core.errors import InvalidInputError
from routegraph.nodes.routing import RouterHandle, resolve_router
from routegraph.routers.heuristic import HeuristicRouter
from tests.fakes import ScriptedChatModel

EASY = "What is the capital of France?"
HARD = (
    "A train leaves at 3 pm at 60 mph; another left the same station at 1 pm at 40 mph on the "
    "same track. Janet has 3 apples, buys 5 more, then gives half to Bob. When does the first "
    "train catch the second, and how many apples does Janet keep? Show all steps."
)
pytestmark = pytest.mark.filterwarnings("ignore:The middleware `ModelRouterMiddleware` is in beta")

LABELS = {"fast": "smollm2-135m", "powerful": "cloud"}
CHOICE = Choice(
    instructions="Pick the least costly model that will answer well.",
    criteria={"fast": "Simple requests.", "powerful": "Hard, multi-step requests."},
)


@pytest.fixture(scope="module")
def shipped() -> RouterHandle:
    """The shipped default router, resolved exactly as the graphs resolve it."""
    handle = resolve_router("default", load_catalog(), ["smollm2-135m", "cloud"])
    assert handle.name == "default" and handle.note is None, handle.note
    return handle


def routed_agent(classifier: RouterDecisionModel) -> Any:
    fast = ScriptedChatModel(answers=["answered by fast"])
    powerful = ScriptedChatModel(answers=["answered by powerful"])
    middleware = ModelRouterMiddleware(
        choices={
            "fast": ModelChoice(model=fast, criteria="Simple requests."),
            "powerful": ModelChoice(model=powerful, criteria="Hard, multi-step requests."),
        },
        instructions="Pick the least costly model that will answer well.",
        classifier=classifier,
    )
    return create_agent(model=fast, tools=[], middleware=[middleware])


def check_route(out: dict[str, Any], expected: str, p: float) -> None:
    route = out["model_route"]
    assert route.choice == expected, p
    assert route.probabilities["powerful"] == pytest.approx(p)
    assert route.probabilities["fast"] == pytest.approx(1 - p)
    assert route.confidence == pytest.approx(route.probabilities[route.choice])
    final = out["messages"][-1]
    assert isinstance(final, AIMessage) and final.content == f"answered by {expected}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("prompt", "threshold", "expected"),
    [(EASY, 0.5, "fast"), (HARD, 0.5, "powerful"), (EASY, 0.0, "powerful"), (HARD, 1.0, "fast")],
)
def test_middleware_picks_what_the_router_picks(
    shipped: RouterHandle, prompt: str, threshold: float, expected: str
) -> None:
    p = shipped.strong_probability(prompt)
    assert (p >= threshold) == (expected == "powerful"), p  # the router's own rule
    agent = routed_agent(RouterDecisionModel(router="default", labels=LABELS, threshold=threshold))
    check_route(agent.invoke({"messages": [HumanMessage(prompt)]}), expected, p)


@pytest.mark.slow
@pytest.mark.parametrize("prompt", [EASY, HARD])
@pytest.mark.parametrize(("offset", "expected"), [(0.05, "powerful"), (-0.05, "fast")])
def test_a_strong_share_target_cuts_the_calibration_scores(
    shipped: RouterHandle, prompt: str, offset: float, expected: str
) -> None:
    """``strong_share=s`` sends the top s of the calibration prompts' scores to the strong model.

    The expected side comes from the artifact's stored calibration scores, not from the code
    that resolves the target: a prompt whose score has a share r of the calibration scores at
    or above it goes strong when asked for s = r + 0.05 and stays weak at s = r - 0.05 (the
    point form lands within one step, about 1/400, of the share asked for).
    """
    p = shipped.strong_probability(prompt)
    assert shipped.router is not None
    scores = np.asarray(shipped.router.meta_["calibration_set"]["p_strong"], dtype=float)
    rank = float((scores >= p).mean())
    share = min(1.0, max(0.0, rank + offset))  # 1.0: all strong, 0.0: all weak
    target = f"strong_share={share:.4f}"
    agent = routed_agent(RouterDecisionModel(router="default", labels=LABELS, target=target))
    check_route(agent.invoke({"messages": [HumanMessage(prompt)]}), expected, p)


@pytest.mark.slow
def test_async_agent_and_noul_question(shipped: RouterHandle) -> None:
    classifier = RouterDecisionModel(labels=LABELS)
    out = asyncio.run(routed_agent(classifier).ainvoke({"messages": [HumanMessage(HARD)]}))
    assert out["model_route"].choice == "powerful"
    assert out["messages"][-1].content == "answered by powerful"

    response = classifier.invoke(
        {
            "state": [HumanMessage(EASY)],
            "questions": {
                "route": CHOICE,
                "needs_strong": Noul(instructions="Does this need the strong model?"),
            },
        }
    )
    assert response.nouls["needs_strong"].noul == pytest.approx(shipped.strong_probability(EASY))
    assert response.choices["route"].choice == "fast"
    assert response.model == "router:default"


@pytest.mark.slow
def test_more_than_two_choices_follow_predicted_quality() -> None:
    """Three recorded models: the pick is the shipped N-model router's best predicted quality."""
    names = ["mixtral-8x7b-instruct", "gpt-4-1106-preview", "phi-3-mini-4k-instruct"]
    handle = resolve_router("default", load_catalog(), names)
    assert handle.name == "specialist"
    classifier = RouterDecisionModel()
    question = Choice(instructions="Which model?", criteria={n: None for n in names})
    for prompt in (EASY, HARD):
        quality = handle.scores(prompt, names)
        answer = classifier.invoke({"state": prompt, "questions": {"m": question}}).choices["m"]
        assert answer.choice == max(names, key=lambda n: quality[n])
        assert answer.confidence == pytest.approx(quality[answer.choice])
        assert sum(answer.probabilities.values()) == pytest.approx(1.0)


def test_any_router_object_drives_the_choice() -> None:
    """A router object (here the built-in rule) is used as it is, at the given threshold."""
    rule = HeuristicRouter(["smollm2-135m", "cloud"])
    for prompt in (EASY, HARD):
        p = float(rule.strong_probability([prompt])[0])
        for threshold in (0.0, p, min(1.0, p + 0.01)):
            classifier = RouterDecisionModel(router=rule, labels=LABELS, threshold=threshold)
            answer = classifier.invoke({"state": prompt, "questions": {"m": CHOICE}})
            assert answer.choices["m"].choice == ("powerful" if p >= threshold else "fast")
            assert answer.choices["m"].probabilities["powerful"] == pytest.approx(p)
    assert RouterDecisionModel(router=rule).model == "router:heuristic"


def test_state_forms_follow_the_graphs_routing_query() -> None:
    chat = [HumanMessage("What is 17 times 23?"), AIMessage("391"), HumanMessage("and in words?")]
    assert state_text(chat) == "What is 17 times 23?\nand in words?"
    assert state_text({"messages": chat}) == state_text(chat)
    assert state_text(HumanMessage("hi")) == "hi"
    assert state_text("plain text") == "plain text"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"state": 3, "questions": {"m": CHOICE}}, "state"),
        ({"state": {"text": "x"}, "questions": {"m": CHOICE}}, "state"),
        ({"state": "  ", "questions": {"m": CHOICE}}, "state"),
        ({"state": [AIMessage("no user")], "questions": {"m": CHOICE}}, "state"),
        (
            {"state": "x", "questions": {"s": Score(instructions="x", criteria=["a", "b"])}},
            "questions['s']",
        ),
        ({"state": "x", "questions": {"b": Box(instructions="the cat")}}, "questions['b']"),
        (
            {"state": "x", "questions": {"m": Choice(instructions="x", criteria={"turbo": 1})}},
            "labels['turbo']",
        ),
    ],
)
def test_bad_requests_name_the_field(request_: dict[str, Any], field: str) -> None:
    classifier = RouterDecisionModel(router="heuristic", labels=LABELS)
    with pytest.raises(InvalidInputError) as err:
        classifier.invoke(request_)  # type: ignore[arg-type]
    assert err.value.field == field


def test_bad_thresholds_and_targets_are_refused() -> None:
    with pytest.raises(ValueError, match=r"threshold: 1\.5 is outside \[0, 1\]"):
        RouterDecisionModel(threshold=1.5)
    with pytest.raises(ValueError, match="target: 'strong=0.5' is not KIND=NUMBER"):
        RouterDecisionModel(target="strong=0.5")
    classifier = RouterDecisionModel(router="random", labels=LABELS, target="strong_share=0.5")
    with pytest.raises(InvalidInputError, match="stores no calibration") as err:
        classifier.invoke({"state": "x", "questions": {"m": CHOICE}})
    assert err.value.field == "target"


def test_model_choices_come_from_the_catalog(no_cloud: None) -> None:
    """Offline, 'cloud' is GPT-4's recorded answers; the local choice is the embedded SmolLM2."""
    from routegraph.core.providers.llamacpp import LlamaCppChatModel
    from routegraph.core.providers.replay import ReplayChatModel

    classifier = RouterDecisionModel(router="heuristic", labels=LABELS)
    choices = classifier.model_choices({"fast": "Simple.", "powerful": "Hard."}, max_tokens=32)
    assert isinstance(choices["fast"].model, LlamaCppChatModel)
    assert isinstance(choices["powerful"].model, ReplayChatModel)
    assert choices["fast"].model.max_tokens == 32
    assert (choices["fast"].criteria, choices["powerful"].criteria) == ("Simple.", "Hard.")


def test_exported_lazily_from_the_package() -> None:
    import routegraph

    assert routegraph.RouterDecisionModel is RouterDecisionModel
    assert "RouterDecisionModel" in routegraph.__all__
