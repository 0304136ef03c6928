"""llama.cpp model loading that does not crash on hosts advertising CPU features they withhold.

Why: ``llama-cpp-python`` compiles llama.cpp for the CPU it is installed on. Its CPU backend then
puts weights into "extra" buffer types - AMX tiles, repacked layouts - whenever the CPU says it
has them. On a Xeon that advertises AMX (``AMX_INT8`` in ``llama_print_system_info()``) under a
kernel or sandbox that does not grant the tile state, the first decode kills the whole process
with SIGSEGV: no Python exception, no answer, and ``routegraph demo`` dies on its first step
(seen on this project's machines on 2026-12-05). Loading with ``use_extra_bufts = False`` - what
llama.cpp's own server calls ``--no-repack`` - keeps weights in plain CPU buffers; SmolLM2-135M
then runs on the ordinary AVX2/AVX-512 kernels at about the same speed.

:func:`install` makes every ``llama_cpp.Llama`` created afterwards in this process load that
way (``llama-cpp-python`` has no constructor argument for it). ``ROUTEGRAPH_LLAMA_REPACK=1``
keeps llama.cpp's default, for hosts where the extra buffers work.
"""

from __future__ import annotations

import os
import threading
from typing import Any

REPACK_ENV = "ROUTEGRAPH_LLAMA_REPACK"
_INSTALL_LOCK = threading.Lock()


def repack_allowed() -> bool:
    """Whether the user asked to keep llama.cpp's extra buffer types."""
    return os.environ.get(REPACK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def install() -> bool:
    """Make later ``llama_cpp.Llama`` loads in this process skip extra buffer types.

    Idempotent and thread-safe. Returns whether loads now skip them (False when llama-cpp-python
    is missing, too old to know the parameter, or :data:`REPACK_ENV` asks for the default).
    """
    if repack_allowed():
        return False
    try:
        import llama_cpp.llama_cpp as low_level
    except ImportError:
        return False
    with _INSTALL_LOCK:
        current = low_level.llama_model_default_params
        if getattr(current, "_routegraph_safe", False):
            return True
        if "use_extra_bufts" not in {field[0] for field in low_level.llama_model_params._fields_}:
            return False

        def safe_default_params() -> Any:
            params = current()
            params.use_extra_bufts = False
            return params

        safe_default_params._routegraph_safe = True  # type: ignore[attr-defined]
        low_level.llama_model_default_params = safe_default_params
        import llama_cpp

        llama_cpp.llama_model_default_params = safe_default_params  # the re-exported name too
    return True
