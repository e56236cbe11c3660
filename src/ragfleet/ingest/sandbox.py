"""Parse untrusted files in child processes, each parse bounded in time, memory and output.

A crafted file (a DOCX of millions of empty paragraphs, a PDF claiming ten thousand pages, a
decompression bomb) must fail its own upload with a clear reason, never stall or kill the
serving process: parsing runs in a small pool of spawned processes (no torch threads inherited,
the GIL not shared), a parse over ``parsing.timeout_s`` has its process killed and replaced, an
address-space limit turns a memory blow-up into a refusal, and the parsed text is capped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import threading

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from ragfleet.domain import ParsedDocument
from ragfleet.errors import BadInputError, ParseLimitError
from ragfleet.ingest.parsers import parse_file
from ragfleet.settings import ParsingSettings


def _limit_memory(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _parse(name: str, data: bytes, max_chars: int) -> list[ParsedDocument]:
    """Runs in the child."""
    try:
        documents = parse_file(name, data)
    except (MemoryError, BadInputError) as exc:
        if isinstance(exc, MemoryError) or isinstance(exc.__cause__, MemoryError):
            raise ParseLimitError(
                f"{name}: parsing needed more memory than allowed (RAGFLEET_PARSING__MEMORY_MB)"
            ) from None
        raise
    chars = sum(len(block.text) for doc in documents for block in doc.blocks)
    if chars > max_chars:
        raise ParseLimitError(f"{name}: {chars} characters of text; at most {max_chars}")
    return documents


class ParseSandbox:
    def __init__(self, settings: ParsingSettings) -> None:
        self._settings = settings
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _submit(self, name: str, data: bytes) -> ProcessFuture[list[ParsedDocument]]:
        settings = self._settings
        with self._lock:
            if self._pool is None:  # started on first use: most processes never parse
                self._pool = ProcessPool(
                    max_workers=settings.workers,
                    initializer=_limit_memory,
                    initargs=(settings.memory_mb * 1024 * 1024,),
                    context=multiprocessing.get_context("spawn"),
                )
            pool = self._pool
        return pool.schedule(_parse, (name, data, settings.max_chars), timeout=settings.timeout_s)

    def _refusal(self, name: str, error: BaseException) -> ParseLimitError:
        """What a killed (over time) or dead (e.g. out of memory in C code) child means."""
        if isinstance(error, TimeoutError):
            return ParseLimitError(
                f"{name}: parsing took longer than {self._settings.timeout_s:g} s "
                "(RAGFLEET_PARSING__TIMEOUT_S)"
            )
        return ParseLimitError(f"{name}: the parser process died ({error})")

    def parse(self, name: str, data: bytes) -> list[ParsedDocument]:
        """Blocking: the CLI's way in."""
        try:
            return self._submit(name, data).result()
        except (TimeoutError, ProcessExpired) as exc:
            raise self._refusal(name, exc) from exc

    async def parse_async(self, name: str, data: bytes) -> list[ParsedDocument]:
        """The API's way in: awaits the child without holding a thread."""
        try:
            return await asyncio.wrap_future(self._submit(name, data))
        except (TimeoutError, ProcessExpired) as exc:
            raise self._refusal(name, exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool.join(timeout=10)
                self._pool = None
