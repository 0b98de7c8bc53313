"""Chat models for steering evaluations and LLM judges: the ChatBackend protocol and its local-transformers and
OpenAI-compatible implementations (backends.py), model loading with a GGUF conversion cache (loading.py), the
packaged SmolLM2 default (smollm.py), a tiny random test model (tiny.py), refusal detection (refusals.py) and a
loopback OpenAI-compatible server around any backend (server.py)."""
