"""Text normalisation, sentence splitting and the token measure used for chunk sizes."""

from __future__ import annotations

import re
import unicodedata

from ragfleet.errors import BadInputError

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# A sentence ends at . ! ? followed by space and an upper-case letter, digit, quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")


def decode(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or UTF-16 with BOM; refuse anything else."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"the file is not valid {exc.encoding.upper()} text "
            f"(undecodable byte at offset {exc.start})"
        ) from exc


def normalize(text: str) -> str:
    """NFC, no control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_CONTROL)
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def count_tokens(text: str) -> int:
    """Words and punctuation marks: close to a sub-word tokenizer's count, and model-free."""
    return len(_TOKEN.findall(text))


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
