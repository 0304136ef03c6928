"""A blocking run on a worker thread stops when its caller is cancelled, and the caller only
goes on once it has stopped: what the run still writes must land before the caller cleans up."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from routegraph.app.server.runs import final_state
from routegraph.core.cancellation import (
    CANCEL_EVENT,
    RunCancelledError,
    cancel_scope,
    cancelled,
    run_in_worker,
)


def test_the_result_comes_back_and_the_work_sees_the_callers_scope() -> None:
    async def main() -> tuple[int, bool]:
        with cancel_scope() as event:
            seen = await run_in_worker(lambda: CANCEL_EVENT.get() is event)
        return 42, seen

    assert asyncio.run(main()) == (42, True)


@pytest.mark.parametrize("scoped", [True, False])
def test_a_cancelled_caller_waits_for_the_work_to_stop(scoped: bool) -> None:
    """With or without a scope around the caller, cancelling it sets the work's event, and the
    CancelledError reaches the caller only after the work has returned."""
    finished: list[float] = []

    def work() -> None:
        while not cancelled():
            time.sleep(0.01)
        time.sleep(0.2)  # what a node still does after it saw the event (a last write)
        finished.append(time.perf_counter())

    async def main() -> float:
        async def caller() -> None:
            if scoped:
                with cancel_scope():
                    await run_in_worker(work)
            else:
                await run_in_worker(work)

        task = asyncio.ensure_future(caller())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter()

    returned = asyncio.run(main())
    assert finished and finished[0] <= returned


class Steps(TypedDict):
    done: list[str]


def test_a_cancelled_graph_run_stops_between_steps() -> None:
    """``final_state`` is ``invoke`` that gives up at the next step once the run is cancelled:
    the step that saw the cancellation finishes, the next one never starts."""
    event = threading.Event()
    calls: list[str] = []

    def first(state: Steps) -> dict[str, Any]:
        calls.append("first")
        if state["done"] == ["cancel"]:
            event.set()  # the client leaves while this step runs
        return {"done": [*state["done"], "first"]}

    def second(state: Steps) -> dict[str, Any]:
        calls.append("second")
        return {"done": [*state["done"], "second"]}

    builder = StateGraph(Steps)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    graph: Any = builder.compile()
    token = CANCEL_EVENT.set(event)
    try:
        assert final_state(graph, {"done": []}, {}, None)["done"] == ["first", "second"]
        calls.clear()
        with pytest.raises(RunCancelledError):
            final_state(graph, {"done": ["cancel"]}, {}, None)
        assert calls == ["first"]
    finally:
        CANCEL_EVENT.reset(token)
