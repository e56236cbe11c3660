"""Instruction-like text in documents: flagged at ingest, so it can be shown and kept out of
answer context.

The patterns look for what prompt injection needs: addressing the model ("ignore previous
instructions", "you are now"), posing as chat structure (role tags, ``Question:`` lines, passage
numbers at the start of a line), or asking for the system prompt. A flag is a signal, not a
verdict: a security guide quoting an attack is flagged too, and the default policy keeps flagged
passages (quoted inside the prompt's delimiters) while search hits and citations show the flag.
"""

from __future__ import annotations

import re

_PATTERNS = [
    # Addressing the model's instructions.
    r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(instructions?|prompts?|rules|"
    r"guidelines|directions|context)\b",
    r"\b(new|updated|real|actual|hidden)\s+(instructions?|system\s+prompt)\b",
    r"\byou\s+(are\s+now|must\s+now|will\s+now|have\s+been\s+(freed|jailbroken))\b",
    r"\b(reveal|print|show|repeat|output)\b[^.\n]{0,30}\b(system\s+prompt|instructions)\b",
    r"\b(act|behave|respond)\s+as\s+(if\s+you\s+were|an?\s+unrestricted)\b",
    # Posing as the prompt's structure or a chat transcript.
    r"^\s*(system|assistant|user|developer)\s*:",
    r"^\s*(question|passages?)\s*:",
    r"^\s*\[\d{1,3}\]\s",
    r"<\|?\s*(im_start|im_end|system|endoftext)\s*\|?>",
    r"\[/?(INST|SYS)\]",
]
_INJECTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)


def looks_like_injection(text: str) -> bool:
    """True when ``text`` contains instruction-like or structure-posing text."""
    return _INJECTION.search(text) is not None
