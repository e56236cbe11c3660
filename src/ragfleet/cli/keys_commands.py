"""API key commands: ``ragfleet keys create`` makes a key and the entry that stores its hash."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError

from ragfleet.security.keys import hash_key, new_key
from ragfleet.settings import DEFAULT_SCOPES, ApiKey, Scope


def register(app: typer.Typer) -> None:
    """Attach the ``keys`` group to ``app``."""
    keys = typer.Typer(help="Create API keys (stored as salted hashes).", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(
        name: Annotated[str, typer.Option("--name", help="Key name: the tenant in logs.")],
        group: Annotated[
            list[str] | None,
            typer.Option("--group", help="ACL group the key reads (repeat); none: all."),
        ] = None,
        scope: Annotated[
            list[str] | None,
            typer.Option("--scope", help="read, write or admin (repeat); default read+write."),
        ] = None,
    ) -> None:
        """Print a new key once, and the JSON entry for RAGFLEET_AUTH__API_KEYS that holds only
        its hash. Add the entry beside the old key to rotate, then remove the old one."""
        key = new_key()
        scopes: list[Scope] | list[str] = scope or list(DEFAULT_SCOPES)
        try:
            entry = ApiKey.model_validate(
                {"key_hash": hash_key(key), "name": name, "groups": group, "scopes": scopes}
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            typer.echo(f"error: {problems}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"key (shown once; give it to the client): {key}")
        stored = entry.model_dump(include={"key_hash", "name", "groups", "scopes"})
        typer.echo(f"entry for RAGFLEET_AUTH__API_KEYS: {json.dumps(stored)}")
