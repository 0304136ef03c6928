"""``RoutedChatModel`` against LangChain's own standard unit tests (``langchain-tests``).

Every LangChain chat-model integration is held to these: construction from parameters, tool
binding, structured-output wiring, tracing parameters (``_get_ls_params``), serialisation
rules. Offline, on the embedded model: the unit class builds and inspects the model without
calling it. (The integration class, which calls the model, is the next step: see the README's
"In a LangChain agent" section.)
"""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

from routegraph.app.chat_model import RoutedChatModel

PARAMS = {"graph": "simple", "context": {"router": "heuristic", "max_tokens": 32}}


class TestRoutedChatModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[RoutedChatModel]:
        return RoutedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return dict(PARAMS)
