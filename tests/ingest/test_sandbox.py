"""Parsing in bounded child processes: a crafted file fails alone, the pool keeps working."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ragfleet.errors import BadInputError, ParseLimitError
from ragfleet.ingest.parsers import parse_file
from ragfleet.ingest.sandbox import ParseSandbox
from ragfleet.settings import ParsingSettings
from tests.utils.documents import GUIDE_MD, docx_body, make_hostile_docx


@pytest.fixture
def sandbox() -> Iterator[ParseSandbox]:
    box = ParseSandbox(ParsingSettings(workers=1, timeout_s=3, memory_mb=768, max_chars=5000))
    yield box
    box.close()


def test_a_good_file_parses_as_in_process(sandbox: ParseSandbox) -> None:
    assert sandbox.parse("guide.md", GUIDE_MD.encode()) == parse_file("guide.md", GUIDE_MD.encode())
    assert asyncio.run(sandbox.parse_async("guide.md", GUIDE_MD.encode()))[0].title == "Guide"


def test_millions_of_empty_paragraphs_run_out_of_time_and_the_pool_recovers(
    sandbox: ParseSandbox,
) -> None:
    bomb = make_hostile_docx(docx_body(b"<w:p/>" * 3_000_000))
    with pytest.raises(ParseLimitError, match=r"paragraphs.docx: parsing took longer than 3 s"):
        sandbox.parse("paragraphs.docx", bomb)
    assert sandbox.parse("after.md", b"# After\n\nStill parsing.")[0].title == "After"


def test_a_body_that_inflates_past_the_memory_cap_is_refused() -> None:
    text = b"<w:p><w:r><w:t>" + b"A" * (300 * 1024 * 1024) + b"</w:t></w:r></w:p>"
    bomb = make_hostile_docx(docx_body(text))
    assert len(bomb) < 1024 * 1024  # under a megabyte on the wire
    box = ParseSandbox(ParsingSettings(workers=1, memory_mb=256))
    try:
        with pytest.raises(ParseLimitError, match="inflated.docx: parsing needed more memory"):
            box.parse("inflated.docx", bomb)
    finally:
        box.close()


def test_text_over_the_output_cap_is_refused(sandbox: ParseSandbox) -> None:
    with pytest.raises(ParseLimitError, match="6000 characters of text; at most 5000"):
        sandbox.parse("long.txt", b"x" * 6000)


def test_the_parser_s_own_refusals_come_through_unchanged(sandbox: ParseSandbox) -> None:
    with pytest.raises(BadInputError) as refused:
        sandbox.parse("broken.pdf", b"%PDF-1.4 junk")
    with pytest.raises(BadInputError) as direct:
        parse_file("broken.pdf", b"%PDF-1.4 junk")
    assert type(refused.value) is type(direct.value)
    assert refused.value.message == direct.value.message
