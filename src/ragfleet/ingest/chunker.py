"""Structure-aware chunking: follow headings, keep tables and code whole, size by tokens.

A heading closes the current chunk and updates the heading path that every later chunk carries
(``Guide > Install > Linux``). Paragraphs fill a chunk up to the target size; a paragraph larger
than the target is split at sentence boundaries. When a chunk is closed for size (not by a
heading), the next one starts with the last sentences of the previous one, up to the overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragfleet.domain import Block, BlockKind, Chunk, ParsedDocument
from ragfleet.text import count_tokens, split_sentences


@dataclass(slots=True)
class _Piece:
    text: str
    tokens: int
    atomic: bool
    page: int | None
    block: int = 0
    carried: bool = False


def _units(block: Block, number: int, target: int) -> list[_Piece]:
    """A block as pieces that each fit the target, unless the block is atomic."""
    tokens = count_tokens(block.text)
    if block.atomic or tokens <= target:
        return [_Piece(block.text, tokens, block.atomic, block.page, number)]
    pieces: list[_Piece] = []
    for sentence in split_sentences(block.text):
        words = sentence.split(" ")
        # A single run-on "sentence" above the target is cut into word windows.
        step = max(1, len(words) * target // max(count_tokens(sentence), 1))
        for start in range(0, len(words), step):
            text = " ".join(words[start : start + step])
            pieces.append(_Piece(text, count_tokens(text), False, block.page, number))
    return pieces


class Chunker:
    """Splits parsed documents into chunks of about ``target_tokens``."""

    def __init__(self, target_tokens: int, overlap_tokens: int) -> None:
        self.target = target_tokens
        self.overlap = overlap_tokens

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        chunks: list[Chunk] = []
        path: list[tuple[int, str]] = []
        current: list[_Piece] = []

        def emit() -> None:
            if current:
                section = " > ".join(text for _, text in path)
                page = next((p.page for p in current if p.page is not None), None)
                text = current[0].text
                for before, piece in zip(current, current[1:], strict=False):
                    text += (" " if piece.block == before.block else "\n\n") + piece.text
                chunks.append(Chunk(len(chunks), text, section, page))

        def close(carry: bool) -> None:
            emit()
            tail: list[_Piece] = []
            if carry and self.overlap:
                budget = self.overlap
                for piece in reversed(current):
                    if piece.atomic:
                        break
                    for sentence in reversed(split_sentences(piece.text)):
                        size = count_tokens(sentence)
                        if size > budget:
                            break
                        tail.insert(0, _Piece(sentence, size, False, piece.page, piece.block, True))
                        budget -= size
                    else:
                        continue
                    break
            current[:] = tail

        for number, block in enumerate(document.blocks):
            if block.kind is BlockKind.HEADING:
                if self._has_content(current):
                    close(carry=False)
                current.clear()
                while path and path[-1][0] >= block.level:
                    path.pop()
                path.append((block.level, block.text))
                continue
            for piece in _units(block, number, self.target):
                size = sum(p.tokens for p in current)
                if self._has_content(current) and size + piece.tokens > self.target:
                    close(carry=not piece.atomic)
                    if sum(p.tokens for p in current) + piece.tokens > self.target:
                        current.clear()
                current.append(piece)
        if self._has_content(current):
            emit()
        if not chunks and path:
            chunks.append(Chunk(0, " > ".join(text for _, text in path), "", None))
        return chunks

    @staticmethod
    def _has_content(pieces: list[_Piece]) -> bool:
        """True once the chunk holds more than carried-over overlap."""
        return any(not p.carried for p in pieces)
