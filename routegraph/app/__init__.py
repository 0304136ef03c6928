"""Application layer: the doors users come through (CLI, runner, benchmark harness, LangChain
adapters, HTTP server). It may import every layer below; nothing below imports it.
"""
