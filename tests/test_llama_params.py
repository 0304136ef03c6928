"""llama.cpp loads without extra buffer types (AMX / repack), which crash some hosts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from routegraph.core.providers.llama_params import REPACK_ENV, install
from tests.conftest import require_modules


def test_install_turns_extra_buffer_types_off_for_later_loads(monkeypatch):
    require_modules("llama_cpp")
    import llama_cpp

    monkeypatch.delenv(REPACK_ENV, raising=False)
    assert install() is True
    assert install() is True  # idempotent: the wrapper is not wrapped again
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_cpp.llama_model_default_params().use_extra_bufts is False


def test_repack_env_keeps_llama_cpp_defaults(monkeypatch):
    require_modules("llama_cpp")
    monkeypatch.setenv(REPACK_ENV, "1")
    assert install() is False


@pytest.mark.slow
def test_server_launcher_takes_llama_cpp_server_arguments():
    """The launcher is llama-cpp-python's server itself: same command line, same help."""
    require_modules("llama_cpp")
    out = subprocess.run(
        [sys.executable, "-m", "routegraph.core.providers.llama_server", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "--model" in out.stdout and "--chat_format" in out.stdout
