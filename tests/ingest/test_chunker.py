from __future__ import annotations

from ragfleet.domain import Block, BlockKind, ParsedDocument
from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.parsers import parse_text
from ragfleet.text import count_tokens
from tests.utils.documents import GUIDE_MD


def sentences(n: int, word: str = "alpha") -> str:
    return " ".join(f"Sentence {i} is about {word} things here." for i in range(n))


def test_heading_path_on_every_chunk() -> None:
    chunks = Chunker(100, 10).chunk(parse_text(GUIDE_MD, None, "g", {}))
    assert [c.section for c in chunks] == ["Guide > Install > Linux", "Guide > Configure"]
    assert "| RAGFLEET_QDRANT__URL | vector store |" in chunks[1].text


def test_large_sections_split_near_target_with_overlap() -> None:
    doc = parse_text("# Big\n\n" + sentences(60), None, "b", {})
    chunks = Chunker(60, 15).chunk(doc)
    assert len(chunks) > 3
    for chunk in chunks:
        assert count_tokens(chunk.text) <= 60
    for previous, current in zip(chunks, chunks[1:], strict=False):
        last_sentence = previous.text.rsplit(". ", 1)[-1]
        assert current.text.startswith(last_sentence)
        assert "\n" not in current.text  # one paragraph: sentences joined by spaces


def test_tables_and_code_are_never_split() -> None:
    table = "\n".join(f"| row {i} | value {i} |" for i in range(80))
    doc = ParsedDocument(
        "T",
        "t",
        [
            Block(BlockKind.PARAGRAPH, sentences(3)),
            Block(BlockKind.TABLE, table),
            Block(BlockKind.CODE, "```\n" + "x = 1\n" * 200 + "```"),
        ],
    )
    chunks = Chunker(50, 10).chunk(doc)
    assert any(c.text == table for c in chunks)
    assert sum(c.text.count("| row") for c in chunks) == 80
    assert sum(c.text.count("x = 1") for c in chunks) == 200


def test_pages_follow_blocks() -> None:
    doc = ParsedDocument(
        "P",
        "p",
        [
            Block(BlockKind.PARAGRAPH, sentences(8), page=1),
            Block(BlockKind.PARAGRAPH, sentences(8), page=2),
        ],
    )
    pages = [c.page for c in Chunker(60, 0).chunk(doc)]
    assert pages[0] == 1 and pages[-1] == 2


def test_heading_only_document_still_yields_a_chunk() -> None:
    chunks = Chunker(50, 5).chunk(parse_text("# Only a title", None, "o", {}))
    assert [c.text for c in chunks] == ["Only a title"]
