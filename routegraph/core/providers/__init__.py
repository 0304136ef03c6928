"""Chat-model providers: embedded llama.cpp, OpenAI-compatible, Ollama, and replay."""
