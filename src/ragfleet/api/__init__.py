"""The HTTP API (FastAPI)."""

API_PREFIX = "/v1"
