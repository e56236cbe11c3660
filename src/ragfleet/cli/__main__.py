"""``python -m ragfleet.cli``: the same CLI as the ``ragfleet`` command."""

from ragfleet.cli.main import app

app()
