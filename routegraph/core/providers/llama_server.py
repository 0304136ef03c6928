"""llama-cpp-python's OpenAI-compatible server, loading models the safe way.

    python -m routegraph.core.providers.llama_server --model MODEL.gguf --port 8000 [...]

Takes exactly the arguments of ``python -m llama_cpp.server`` and runs that server; the only
difference is :func:`routegraph.core.providers.llama_params.install` first, so the model loads
without llama.cpp's extra buffer types (their AMX kernels crash the server on its first request
on hosts that advertise AMX without granting it; see that module).
"""

from __future__ import annotations

from routegraph.core.providers.llama_params import install


def main() -> None:
    install()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
