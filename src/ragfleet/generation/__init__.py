"""Answers with citations: an OpenAI-compatible LLM, or extractive when it is absent or down."""
