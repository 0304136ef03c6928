"""A trained router as a LangChain decision model (``langchain_core.decisions``, beta).

LangChain's ``ModelRouterMiddleware`` picks an agent's model by asking a decision model a
``Choice`` question whose labels are the middleware's named choices. Its shipped classifiers call
an LLM for every decision. :class:`RouterDecisionModel` answers the same question with a
routegraph router instead: local, offline, milliseconds, and with the router's calibrated
probabilities, so an agent gets RouteLLM-style routing without a classification call.

What it answers (it has no language understanding beyond its router, so it says so):

* ``Choice`` - each label is a catalog model (through ``labels``, or the label is itself a catalog
  name). Two labels: the cheaper is the weak model and the router's P(strong model needed)
  against ``threshold`` (or a calibrated ``target``) decides, exactly as the ``simple`` graph
  does; ``probabilities`` are
  ``{strong: p, weak: 1 - p}``. More labels: the label whose model has the highest predicted
  quality, as the ``specialist`` graph does with no cost weight; ``probabilities`` are the
  predicted qualities normalised to sum to 1. ``confidence`` is the selected label's probability
  (two labels) or its predicted quality (more labels). The question's instructions and criteria
  texts are not read: the router was trained on outcomes, not on descriptions.
* ``Noul`` - read as "does this request need the strong model?": the answer is P(strong needed)
  for ``weak_model`` vs ``strong_model``.
* ``Score`` and ``Box`` questions are refused with a clear error.

Pinned to langchain-core 1.8.x, where a subclass implements ``_provider`` and
``_classify(state, questions)``; the names have changed between releases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain.agents.middleware import ModelChoice
from langchain_core.decisions import (
    Answer,
    BaseDecisionModel,
    Choice,
    ChoiceAnswer,
    ClassifierResponse,
    Noul,
    NoulAnswer,
    Question,
    State,
)
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import ConfigDict, Field, PrivateAttr

from routegraph.core.catalog import Catalog, ModelSpec, load_catalog
from routegraph.core.context import RouteContext, check_target_setting
from routegraph.core.errors import InvalidInputError, check_unit_interval
from routegraph.core.models import ModelResolver, ModelSettings
from routegraph.nodes.resources import routing_query
from routegraph.nodes.routing import RouterHandle, resolve_router
from routegraph.routers.base import Router

STATE_FORMS = "text, a message, a list of messages, or a mapping with 'messages'"


class RouterDecisionModel(BaseDecisionModel):
    """Answer ``ModelRouterMiddleware``'s question with a trained router, without an LLM call.

    Example::

        classifier = RouterDecisionModel(
            router="default", labels={"fast": "smollm2-135m", "powerful": "cloud"}
        )
        middleware = ModelRouterMiddleware(choices=..., instructions="...", classifier=classifier)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = ""
    """Name reported to tracing as ``ls_model_name`` (default: ``router:<router name>``)."""

    router: str | Router | RouterHandle = "default"
    """``default`` (the shipped router), ``heuristic``, ``random``, a trained router directory,
    or a router object (any ``routegraph.routers`` router, e.g. one just fitted)."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Choice label -> catalog model name; a label not listed must itself be a catalog name."""

    threshold: float = RouteContext.threshold
    """Threshold in [0, 1] on P(strong model needed) for two-label choices."""

    target: str | None = None
    """A target instead of ``threshold``, resolved with the router's stored calibration as the
    graphs resolve the context's ``target``: ``strong_share=0.3``, ``cost_per_1k=2.5`` or
    ``quality_fraction=0.95``."""

    target_confidence: float | None = None
    """With ``target``: guarantee it with this probability over the calibration split."""

    weak_model: str = RouteContext.weak_model
    """Catalog name of the weak model of a ``Noul`` ("needs the strong model") question."""

    strong_model: str = RouteContext.strong_model
    """Catalog name of the strong model of a ``Noul`` question."""

    catalog: Catalog | None = None
    """Model catalog (default: the packaged one, or ``$ROUTEGRAPH_CATALOG``)."""

    seed: int = 0
    """Seed of the ``random`` router."""

    _handles: dict[tuple[str, ...], RouterHandle] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        check_unit_interval("threshold", self.threshold)
        check_target_setting(self.target, self.target_confidence)
        if not self.model:
            self.model = f"router:{self._router_name()}"

    @property
    def _provider(self) -> str:
        return "routegraph"

    # -- the decision ---------------------------------------------------------------------------
    def _classify(self, state: State, questions: dict[str, Question]) -> ClassifierResponse:
        if not questions:
            raise InvalidInputError("questions", "is empty", "at least one Choice or Noul")
        query = state_text(state)
        answers: dict[str, Answer] = {}
        for name, question in questions.items():
            if isinstance(question, Choice):
                answers[name] = self.choose(query, list(question.criteria))
            elif isinstance(question, Noul):
                answers[name] = NoulAnswer(type="noul", noul=self.strong_probability(query))
            else:
                raise InvalidInputError(
                    f"questions[{name!r}]",
                    f"a {type(question).__name__} question cannot be answered by a router",
                    "Choice (which model) or Noul (does it need the strong model)",
                )
        return ClassifierResponse(model=self.model, answers=answers)

    def choose(self, query: str, labels: Sequence[str]) -> ChoiceAnswer:
        """The router's pick among ``labels`` for ``query``, with its probabilities."""
        if not labels:
            raise InvalidInputError("criteria", "has no labels", "one label per model choice")
        specs = {label: self._spec(label) for label in labels}
        if len(labels) == 1:
            return ChoiceAnswer(
                type="choice", choice=labels[0], probabilities={labels[0]: 1.0}, confidence=1.0
            )
        if len(labels) == 2:
            weak, strong = sorted(labels, key=lambda label: _price_rank(specs[label]))
            handle = self._handle([specs[weak].name, specs[strong].name])
            p = handle.strong_probability(query)
            pick = strong if p >= self._threshold(handle) else weak
            probabilities = {strong: p, weak: 1.0 - p}
            return ChoiceAnswer(
                type="choice",
                choice=pick,
                probabilities=probabilities,
                confidence=probabilities[pick],
            )
        names = [specs[label].name for label in labels]
        handle = self._handle(names)
        quality = handle.scores(query, names)
        by_label = {label: max(0.0, quality[specs[label].name]) for label in labels}
        pick = max(labels, key=lambda label: (by_label[label], -_price(specs[label])))
        total = sum(by_label.values()) or 1.0
        return ChoiceAnswer(
            type="choice",
            choice=pick,
            probabilities={label: q / total for label, q in by_label.items()},
            confidence=min(1.0, by_label[pick]),
        )

    def strong_probability(self, query: str) -> float:
        """P(``strong_model`` is needed rather than ``weak_model``) for ``query``."""
        handle = self._handle([self.weak_model, self.strong_model])
        return min(1.0, max(0.0, handle.strong_probability(query)))

    def model_choices(
        self, criteria: Mapping[str, Any], max_tokens: int = 256
    ) -> dict[str, ModelChoice]:
        """``ModelRouterMiddleware`` choices for ``criteria`` (label -> description), each label's
        chat model built from the catalog as the graphs build it: ``cloud`` is your
        OpenAI-compatible endpoint, or GPT-4's recorded answers offline."""
        resolver = ModelResolver(self._catalog())
        settings = ModelSettings(max_tokens=max_tokens, seed=self.seed)
        return {
            label: ModelChoice(
                model=resolver.resolve_all(self._spec(label).name, settings)[0].chat,
                criteria=description,
            )
            for label, description in criteria.items()
        }

    # -- helpers --------------------------------------------------------------------------------
    def _catalog(self) -> Catalog:
        return self.catalog or load_catalog()

    def _spec(self, label: str) -> ModelSpec:
        name = self.labels.get(label, label)
        try:
            return self._catalog().get(name)
        except InvalidInputError:
            raise InvalidInputError(
                f"labels[{label!r}]",
                f"{name!r} is not a catalog model (map each choice label to one)",
                self._catalog().names(),
            ) from None

    def _router_name(self) -> str:
        if isinstance(self.router, str):
            return self.router
        if isinstance(self.router, RouterHandle):
            return self.router.name
        return self.router.kind

    def _handle(self, candidates: list[str]) -> RouterHandle:
        key = tuple(candidates)
        if key not in self._handles:
            if isinstance(self.router, RouterHandle):
                handle = self.router
            elif isinstance(self.router, Router):
                handle = RouterHandle(self.router.kind, self.router, self._catalog(), self.seed)
            else:
                handle = resolve_router(self.router, self._catalog(), candidates, self.seed)
            self._handles[key] = handle
        return self._handles[key]

    def _threshold(self, handle: RouterHandle) -> float:
        if self.target is None:
            return float(self.threshold)
        return float(handle.target_threshold(self.target, self.target_confidence)[0])


def _price(spec: ModelSpec) -> float:
    return spec.input_price + spec.output_price


def _price_rank(spec: ModelSpec) -> tuple[float, bool]:
    """Cheaper first; at equal price a local model counts as the weaker one."""
    return _price(spec), spec.tier != "local"


def state_text(state: State) -> str:
    """The text a router scores for a decision model's ``state``.

    A conversation is judged as the graphs judge it: the newest user message, with the
    previous one when the newest is a short follow-up.
    """
    if isinstance(state, str):
        text = state
    elif isinstance(state, BaseMessage):
        text = state.text
    elif isinstance(state, Mapping):
        messages = state.get("messages")
        if not isinstance(messages, Sequence) or isinstance(messages, str):
            raise InvalidInputError("state", "is a mapping without a 'messages' list", STATE_FORMS)
        return state_text(messages)
    elif isinstance(state, Sequence) and all(isinstance(m, BaseMessage) for m in state):
        if not any(isinstance(m, HumanMessage) for m in state):
            raise InvalidInputError("state", "has no user message", "a conversation with one")
        return routing_query(list(state))  # type: ignore[arg-type]
    else:
        raise InvalidInputError("state", f"has type {type(state).__name__}", STATE_FORMS)
    if not text.strip():
        raise InvalidInputError("state", "is empty or blank", "a non-empty request")
    return text
