"""``ragfleet gitops``: bump the image tags an environment runs, or show the current one."""

from __future__ import annotations

from typing import Annotated

import typer

from ragfleet.gitops.bump import COMPONENTS, DEFAULT_VALUES_PATH, BumpError, bump, current_tag

gitops_app = typer.Typer(no_args_is_help=True)
ALL_COMPONENTS = ",".join(COMPONENTS)

RepoOption = Annotated[
    str, typer.Option("--repo", help="Path or URL of the configuration repository.")
]
EnvOption = Annotated[str, typer.Option("--env", help="Environment: staging or prod.")]
ComponentOption = Annotated[
    str, typer.Option("--component", help="Comma-separated components to change.")
]
ValuesPathOption = Annotated[
    str, typer.Option("--values-path", help="Values file in the repository; {env} is replaced.")
]


@gitops_app.callback()
def gitops() -> None:
    """GitOps: the configuration repository decides what each environment runs."""


@gitops_app.command("bump")
def bump_command(
    repo: RepoOption,
    env: EnvOption,
    tag: Annotated[str, typer.Option("--tag", help="Image tag: sha-<hex>, <hex> or semver.")],
    component: ComponentOption = ALL_COMPONENTS,
    push: Annotated[bool, typer.Option("--push", help="Push the commit to origin.")] = False,
    message: Annotated[
        str | None, typer.Option("--message", help="Commit subject instead of the default.")
    ] = None,
    values_path: ValuesPathOption = DEFAULT_VALUES_PATH,
    source_sha: Annotated[
        str | None,
        typer.Option("--source-sha", envvar="GITHUB_SHA", help="Commit the image was built from."),
    ] = None,
) -> None:
    """Commit the new image tag to the environment's values file; no commit if already there."""
    try:
        result = bump(
            repo,
            env,
            tag,
            components=_split(component),
            push=push,
            message=message,
            values_path=values_path,
            source_sha=source_sha,
        )
    except BumpError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(result.message)


@gitops_app.command("current")
def current_command(
    repo: RepoOption,
    env: EnvOption,
    component: ComponentOption = ALL_COMPONENTS,
    values_path: ValuesPathOption = DEFAULT_VALUES_PATH,
) -> None:
    """Print the image tag the environment runs (refused if the components differ)."""
    try:
        typer.echo(current_tag(repo, env, _split(component), values_path))
    except BumpError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def _split(components: str) -> list[str]:
    return [name.strip() for name in components.split(",") if name.strip()]
