"""Settings for tests and the addresses of the real servers they use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ragfleet.settings import Settings

POSTGRES_URL = os.environ.get(
    "RAGFLEET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# A database number of its own: the tests empty it.
REDIS_URL = os.environ.get("RAGFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings from arguments only: no environment file, stores under ``data_dir``."""
    return Settings(_env_file=None, data_dir=data_dir, **overrides)
