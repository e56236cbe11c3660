"""The registry's connection to its database: engine, transactions and schema migrations, shared
by the document and job stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Select, create_engine, event, func, select, text
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import IntegrityError as RowConflict
from sqlalchemy.orm import Session, sessionmaker

from ragfleet.errors import ConflictError, DependencyError, IntegrityError

MIGRATIONS = Path(__file__).parent / "migrations"
Row = TypeVar("Row")


def _engine(url: str, pool_size: int) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True)


class Database:
    """The engine and its transactions; database errors leave as ragfleet errors."""

    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.engine = _engine(url, pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Apply Alembic migrations up to head (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:  # unreachable, refused, locked: may pass
            raise DependencyError("registry", str(exc.orig or exc).splitlines()[0]) from exc
        except DatabaseError as exc:  # the database itself is damaged
            where = self.engine.url.render_as_string(hide_password=True)
            raise IntegrityError(
                f"cannot read the registry {where}: {str(exc.orig or exc).splitlines()[0]}. "
                "Move a damaged SQLite file aside (its documents must then be ingested again) "
                "or restore it from a backup"
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except RowConflict as exc:
            if "uq_jobs_active_document" in str(exc) or "jobs.document_id" in str(exc):
                raise ConflictError("the document already has a queued or running job") from exc
            raise DependencyError("registry", str(exc).splitlines()[0]) from exc
        except SQLAlchemyError as exc:
            raise DependencyError("registry", str(exc).splitlines()[0]) from exc

    def page(self, query: Select[Row], limit: int, offset: int) -> tuple[list[Row], int]:
        """One page of an ordered query's rows, and how many rows there are in all."""
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.limit(limit).offset(offset)).all()
        return list(rows), total

    def check(self) -> None:
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()
