"""Delivery commands (chart rendering, GitOps tag bumps), registered on the main CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragfleet.deploy.environments import EnvironmentName


def register(app: typer.Typer) -> None:
    """Attach the delivery commands to ``app``."""

    @app.command("render")
    def render(
        env: Annotated[EnvironmentName, typer.Option("--env", help="Environment to render.")],
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Write one file per object here instead of stdout."),
        ] = None,
        chart: Annotated[
            Path | None,
            typer.Option("--chart", help="Chart directory; default: found from the cwd."),
        ] = None,
    ) -> None:
        """Render the Helm chart with values-<env>.yaml, as Argo CD will apply it."""
        # The Helm engine is an optional dependency (the 'deploy' extra): import it on use.
        from ragfleet.deploy.render import (
            find_chart,
            render_environment,
            to_yaml_stream,
            write_manifests,
        )

        manifests = render_environment(env, chart or find_chart(Path.cwd()))
        if out is None:
            typer.echo(to_yaml_stream(manifests), nl=False)
            return
        paths = write_manifests(manifests, out)
        typer.echo(f"wrote {len(paths)} manifests to {out}", err=True)

    from ragfleet.gitops.cli import gitops_app

    app.add_typer(gitops_app, name="gitops")
