"""One process owns an embedded store; others are refused with one line naming the owner."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfleet.cli.main import app
from ragfleet.errors import StoreBusyError
from ragfleet.retrieval.edge_store import EdgeVectorStore


def test_a_second_open_is_refused_until_the_owner_closes(tmp_path: Path) -> None:
    owner = EdgeVectorStore(tmp_path / "qdrant", "t_")
    with pytest.raises(StoreBusyError, match=f"in use by pid {os.getpid()}"):
        EdgeVectorStore(tmp_path / "qdrant", "t_")
    owner.close()
    EdgeVectorStore(tmp_path / "qdrant", "t_").close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ragfleet.retrieval.edge_store import EdgeVectorStore
    store = EdgeVectorStore(Path(sys.argv[1]) / "qdrant", "ragfleet_")
    print("ready", flush=True)
    time.sleep(120)
    """
)


def test_the_cli_refuses_a_store_another_process_owns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv("RAGFLEET_DATA_DIR", str(data))
        result = CliRunner().invoke(app, ["search", "anything"])
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert result.exit_code == 1
    assert f"in use by pid {holder.pid}" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    # The owner died; its lock went with it, so the store opens again.
    EdgeVectorStore(data / "qdrant", "ragfleet_").close()
