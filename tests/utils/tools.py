"""Command-line tools the dev extra installs into the virtualenv (hadolint, actionlint)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def dev_tool(name: str) -> str:
    """The tool's path, looked up beside this interpreter first; a missing tool fails the test."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(f"{name} is missing: install the dev extra (pip install -e '.[dev]')")
    return found
