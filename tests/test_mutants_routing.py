"""How a router's columns are matched to a run's candidates, how a router is asked for
P(strong), and how routers are resolved by name (``nodes/routing.py``).

Written for the mutation run on ``nodes/routing.py`` (``mutation/routing.toml``): routers without
trained columns (random, heuristic) map no candidate; only a pair gets the weak / strong fill-in,
where an unmatched side takes the router's own weak / strong column, never one already taken,
never moving a side that matched, and nothing when both sides matched; a candidate without a
column is scored by the heuristic rule; P(strong) compares the mapped pair only when both sides
have a column; ``column_map`` matches by model id first (a candidate's own id before its
fallback's, also when the counts differ) and by price rank (input + output; columns the catalog
does not know rank by position) only when the counts left match; the random router's draws are a
fixed function of seed (0 by default) and prompt; ``default`` is the pair router for up to two
candidates, and falls back to the heuristic router with a note when it cannot be loaded; a
versioned folder is loaded at its promoted version, once per version; an unknown name is refused.
Each test was checked by applying its mutant by hand. Routers are fixed tables or the heuristic
rule (branch logic only); every expected value is worked out by hand.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.nodes import routing
from routegraph.nodes.routing import RouterHandle, column_map, resolve_router
from routegraph.routers.base import Router
from routegraph.routers.heuristic import HeuristicRouter
from routegraph.routers.versions import promote, write_version
from tests.fakes import tiny_catalog

TINY = tiny_catalog()


def spec(name: str, model: str, price: float, fallback: str | None = None) -> ModelSpec:
    return ModelSpec(name, "fake", model, "cloud", price, 3 * price, fallback=fallback)


def catalog(*specs: ModelSpec) -> Catalog:
    return Catalog({s.name: s for s in specs}, "test")


class TableRouter(HeuristicRouter):
    """Fixed predicted qualities; P(strong) is the base rule on them, 0.5 + (strong - weak) / 2.
    Its own weak model is its first column, its strong one its last."""

    kind = "table"
    strong_probability = Router.strong_probability

    def __init__(self, quality: dict[str, float]):
        super().__init__(list(quality))
        self.quality = quality

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        return np.array([[self.quality[m] for m in self.models_] for _ in prompts])


def three_columns() -> TableRouter:
    """Columns mixtral 0.5, llama-3 0.6, gpt-4 0.9; its own weak / strong pair: mixtral / gpt-4."""
    router = TableRouter({"mixtral": 0.5, "llama-3": 0.6, "gpt-4": 0.9})
    assert router.strong_weak_columns() == (2, 0)
    return router


# --- routers without trained columns ---------------------------------------------------------
def test_random_and_heuristic_routers_map_no_candidate_to_a_column() -> None:
    pair = ["small", "large"]
    assert RouterHandle("random(seed=0)", None, TINY).columns(pair) == {}
    assert RouterHandle("heuristic", HeuristicRouter(pair), TINY).columns(pair) == {}


# --- the weak / strong fill-in of a pair -----------------------------------------------------
def test_the_unmatched_side_of_a_pair_takes_the_routers_strong_column() -> None:
    # local is llama-3 (matched by id); cloud is unknown and 1 candidate left vs 2 free columns
    # rules out price rank: cloud, the pair's strong side, takes gpt-4; local keeps llama-3
    # (it is not moved to mixtral, the router's weak column).
    cat = catalog(spec("local", "llama-3", 0.0), spec("cloud", "claude", 5.0))
    handle = RouterHandle("table", three_columns(), cat)
    assert handle.columns(["local", "cloud"]) == {"local": "llama-3", "cloud": "gpt-4"}


def test_the_fill_in_never_reuses_a_taken_column_nor_moves_a_matched_side() -> None:
    # cloud is mixtral by id, the router's weak column: local (the weak side) would take mixtral,
    # which is taken, so it stays unmatched; cloud keeps mixtral rather than moving to gpt-4.
    cat = catalog(spec("local", "smollm2", 0.0), spec("cloud", "mixtral", 5.0))
    handle = RouterHandle("table", three_columns(), cat)
    assert handle.columns(["local", "cloud"]) == {"cloud": "mixtral"}


def test_a_candidate_named_by_its_provider_id_is_keyed_as_named() -> None:
    # the strong side is named by its provider model id, mixtral (catalog name cloud): both
    # sides match by id, so the router's strong column gpt-4 is handed to nobody, and the
    # columns and scores are keyed as the candidates were named (the specialist graph looks
    # them up by those names: keyed "cloud", it raised KeyError: 'mixtral').
    cat = catalog(spec("local", "llama-3", 0.0), spec("cloud", "mixtral", 5.0))
    handle = RouterHandle("table", three_columns(), cat)
    assert handle.columns(["local", "mixtral"]) == {"local": "llama-3", "mixtral": "mixtral"}
    assert handle.scores("Hello!", ["local", "mixtral"]) == {"local": 0.6, "mixtral": 0.5}


def test_a_candidate_without_a_column_is_scored_by_the_heuristic_rule() -> None:
    # columns: cloud -> mixtral (0.5 in the table); local has none, so it gets the heuristic
    # router's quality for the pair, 1 - difficulty = 1.0 for a greeting (difficulty 0).
    cat = catalog(spec("local", "smollm2", 0.0), spec("cloud", "mixtral", 5.0))
    handle = RouterHandle("table", three_columns(), cat)
    assert handle.scores("Hello!", ["local", "cloud"]) == {"local": 1.0, "cloud": 0.5}


def test_the_random_router_draws_from_the_seed_and_the_prompt_alone() -> None:
    # the recipe: numpy's default_rng seeded with the first 8 bytes (little-endian) of
    # sha256("<seed>:<prompt>"), so a seeded baseline's draws repeat across processes and runs.
    prompt = "What is 2 + 2?"
    digest = hashlib.sha256(f"7:{prompt}".encode()).digest()
    draws = np.random.default_rng(int.from_bytes(digest[:8], "little")).random(3)
    handle = RouterHandle("random(seed=7)", None, TINY, seed=7)
    assert handle.strong_probability(prompt) == float(draws[0])
    scores = handle.scores(prompt, ["small", "medium", "large"])
    assert scores == {"small": draws[0], "medium": draws[1], "large": draws[2]}


def test_a_handle_built_without_a_seed_draws_as_seed_zero() -> None:
    prompt = "What is 2 + 2?"
    unseeded = RouterHandle("random", None, TINY)
    assert unseeded.seed == 0
    assert unseeded.strong_probability(prompt) == RouterHandle(
        "random", None, TINY, seed=0
    ).strong_probability(prompt)


def test_three_candidates_and_two_columns_get_no_fill_in() -> None:
    # no id matches and 3 candidates for 2 columns rules out price rank; the weak / strong
    # fill-in is for a pair only.
    cat = catalog(spec("local", "smollm2", 0.0), spec("mid", "phi", 1.0), spec("cloud", "c", 5.0))
    handle = RouterHandle("table", TableRouter({"mixtral": 0.5, "gpt-4": 0.9}), cat)
    assert handle.columns(["local", "mid", "cloud"]) == {}


# --- P(strong) ---------------------------------------------------------------------------------
def test_p_strong_compares_the_mapped_pair_only_when_both_sides_have_a_column() -> None:
    handle = RouterHandle("table", three_columns(), TINY)
    both = {"local": "llama-3", "cloud": "gpt-4"}
    # the mapped pair: 0.5 + (0.9 - 0.6) / 2
    assert handle.strong_probability("hi", both, "cloud", "local") == pytest.approx(0.65)
    # one side unmapped: the router's own pair gpt-4 / mixtral, 0.5 + (0.9 - 0.5) / 2
    for one in ({"local": "llama-3"}, {"cloud": "llama-3"}):
        assert handle.strong_probability("hi", one, "cloud", "local") == pytest.approx(0.7)


# --- column_map ------------------------------------------------------------------------------
def test_model_ids_match_even_when_the_counts_differ() -> None:
    small, large = TINY.get("small"), TINY.get("large")
    assert column_map([small, large], ["large", "medium", "small"], TINY) == {
        "small": 2,
        "large": 0,
    }


def test_a_candidates_own_model_id_wins_over_its_fallbacks() -> None:
    cat = catalog(spec("local", "llama-3", 0.0, fallback="backup"), spec("backup", "mixtral", 1.0))
    assert column_map([cat.get("local")], ["mixtral", "llama-3", "gpt-4"], cat) == {"local": 1}


def test_unmatched_candidates_take_columns_by_price_rank_when_the_counts_match() -> None:
    # no id matches; the router's columns are priced by the catalog: big 40, small-r 2 per
    # million tokens (in + out), so the cheaper candidate gets small-r (column 1).
    cat = catalog(
        spec("local", "smollm2", 0.0),
        spec("cloud", "claude", 5.0),
        spec("big", "big", 10.0),
        spec("small-r", "small-r", 0.5),
    )
    local, cloud = cat.get("local"), cat.get("cloud")
    assert column_map([cloud, local], ["big", "small-r"], cat) == {"local": 1, "cloud": 0}


def test_router_columns_the_catalog_does_not_know_rank_in_column_order() -> None:
    # a candidate's price is input + output: local 0, cloud 5 + 15 = 20 (input - output would
    # put cloud first); unknown columns rank by position, so local gets column 0.
    cat = catalog(spec("local", "smollm2", 0.0), spec("cloud", "claude", 5.0))
    local, cloud = cat.get("local"), cat.get("cloud")
    assert column_map([cloud, local], ["weak-x", "strong-y"], cat) == {"local": 0, "cloud": 1}


# --- resolving a router by name --------------------------------------------------------------
def test_an_unknown_router_name_is_refused_with_the_names_allowed() -> None:
    with pytest.raises(InvalidInputError) as caught:
        resolve_router("no-such-router", TINY, ["small", "large"])
    assert str(caught.value) == (
        "router: unknown router 'no-such-router'; "
        "allowed: default, heuristic, random, or a router directory"
    )


def test_a_versioned_folder_is_loaded_at_its_promoted_version_once_per_version(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "learned"
    for _ in range(2):
        write_version(HeuristicRouter(["small", "large"]), {}, folder, "report.json")
    promote(folder, "v0001")
    first = resolve_router(str(folder), TINY, ["small", "large"])
    assert first.router is not None and first.router.meta_["version"] == "v0001"
    again = resolve_router(str(folder), TINY, ["small", "large"])
    assert again.router is first.router  # cached: a routing step does not reload the artifact
    promote(folder, "v0002")
    after = resolve_router(str(folder), TINY, ["small", "large"])
    assert after.router is not None and after.router.meta_["version"] == "v0002"


def test_the_random_router_is_named_with_its_seed_zero_by_default() -> None:
    handle = resolve_router("random", TINY, ["small", "large"])
    assert (handle.name, handle.seed, handle.router) == ("random(seed=0)", 0, None)


@pytest.mark.parametrize(
    ("candidates", "shipped"),
    [
        (["small"], "default"),
        (["small", "large"], "default"),
        (["small", "medium", "large"], "specialist"),
    ],
)
def test_the_shipped_router_is_the_pair_router_for_up_to_two_candidates(
    monkeypatch: pytest.MonkeyPatch, candidates: list[str], shipped: str
) -> None:
    asked: list[str] = []

    def load(path: str, version: str | None = None) -> Router:
        asked.append(path)
        return TableRouter({"mixtral": 0.5, "gpt-4": 0.9})

    monkeypatch.setattr(routing, "_load_trained", load)
    handle = resolve_router("default", TINY, candidates)
    assert asked == [shipped] and handle.name == shipped and handle.note is None


@pytest.mark.parametrize(
    "error",
    [
        ArtifactError("router.json: corrupted"),
        InvalidInputError("router", "no shipped router named 'default'"),
        ImportError("No module named 'torch'"),
        OSError("disk unreadable"),
    ],
)
def test_a_shipped_router_that_cannot_load_falls_back_to_the_heuristic_router(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def broken(path: str, version: str | None = None) -> None:
        raise error

    monkeypatch.setattr(routing, "_load_trained", broken)
    handle = resolve_router("default", TINY, ["small", "large"], seed=3)
    assert handle.name == "heuristic" and handle.seed == 3
    assert isinstance(handle.router, HeuristicRouter)
    assert handle.router.models_ == ["small", "large"]
    assert handle.note == f"shipped router unavailable ({error}); used the heuristic router"


def test_the_specialist_graph_takes_a_candidate_named_by_its_provider_id() -> None:
    """A run may name a model by its provider id (the catalog accepts both); the specialist
    graph looks the router's scores up by those names. Keyed by catalog name it raised
    ``KeyError: 'mixtral'``; now mixtral (0.5) loses to local's llama-3 column (0.6)."""
    from routegraph.graphs.registry import build_graph
    from tests.fakes import ScriptedChatModel, TableEvaluator

    cat = catalog(spec("local", "llama-3", 0.0), spec("cloud", "mixtral", 5.0))
    graph = build_graph(
        "specialist",
        catalog=cat,
        models={
            "local": ScriptedChatModel(answers=["4"]),
            "cloud": ScriptedChatModel(answers=["5"]),
        },
        evaluator=TableEvaluator({"local": 0.9, "cloud": 0.9}),
        router=RouterHandle("table", three_columns(), cat),
    )
    state = graph.invoke(
        {"messages": [("user", "What is 2 + 2?")]},
        context={"models": ["local", "mixtral"], "weak_model": "local", "strong_model": "mixtral"},
    )
    assert state["messages"][-1].content == "4"
