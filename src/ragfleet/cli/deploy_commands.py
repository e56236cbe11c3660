"""Delivery commands (chart rendering, GitOps tag bumps), registered on the main CLI."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the delivery commands to ``app``."""
