"""Markup that is not text: YAML front matter, MyST directives and roles, inline Markdown links
and badges, and reStructuredText (through docutils).

Documentation sources carry markup meant for a site generator. Indexed as is it ends up in
answers and titles (``hide-toc: true``, ```` ```{versionadded} 2.1 ````, badge images), so it is
turned into what a reader of the rendered page sees: front matter becomes metadata, admonitions
and version notes become prose, navigation-only directives are dropped, links keep their text.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ragfleet.domain import Block, BlockKind, MetadataValue
from ragfleet.text import normalize

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
MAX_METADATA_KEYS = 64  # what the registry accepts
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_BADGE = re.compile(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_ROLE = re.compile(r"\{[a-z][\w:+-]*\}`([^`<]*?)(?:\s*<[^>]*>)?`")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# MyST directives whose body a reader sees as a note; the label leads the text.
_ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "danger": "Danger",
    "attention": "Attention",
    "error": "Error",
    "seealso": "See also",
    "admonition": "",
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "literalinclude", "code-cell"}


def front_matter(text: str) -> tuple[str, dict[str, MetadataValue]]:
    """The text without its leading YAML front matter, and the scalar fields of it as metadata
    (keys a metadata filter can name; nested values are dropped)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return text, {}
    try:
        loaded: Any = YAML(typ="safe", pure=True).load(match.group(1))
    except YAMLError:
        return text, {}  # not front matter after all: a thematic break and a paragraph
    if not isinstance(loaded, dict):
        return text, {}
    metadata: dict[str, MetadataValue] = {}
    for key, value in loaded.items():
        if len(metadata) == MAX_METADATA_KEYS:
            break
        key = str(key).replace("-", "_")
        if not _METADATA_KEY.match(key):
            continue
        if isinstance(value, str | int | float | bool):
            metadata[key] = value
        elif isinstance(value, list) and all(isinstance(v, str | int) for v in value):
            metadata[key] = [v for v in value if not isinstance(v, bool)]
    return text[match.end() :], metadata


def inline(text: str) -> str:
    """Markdown and MyST inline markup as read: badges gone, images by alt text, links and roles
    by their text."""
    text = _HTML_COMMENT.sub("", text)
    text = _BADGE.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _ROLE.sub(r"\1", text)
    return " ".join(text.split())


def directive(opening: str, body: list[str]) -> Block | None:
    """A MyST fenced directive (```` ```{name} argument ````) as the block a reader sees, or
    None for directives that only drive the site (toctree, images, includes...)."""
    match = re.match(r"^(?:`{3,}|~{3,}|:{3,})\{([\w:-]+)\}\s*(.*)$", opening.strip())
    if not match:
        return None
    name, argument = match.group(1).lower(), match.group(2).strip()
    lines = [line for line in body if not re.match(r"^\s*:[\w-]+:", line)]  # options
    if name in _CODE_DIRECTIVES:
        code = "\n".join(lines).strip("\n")
        return Block(BlockKind.CODE, code) if code else None
    if name not in _ADMONITIONS:
        return None
    label = _ADMONITIONS[name]
    words = " ".join(part for part in (label, argument) if part)
    prose = inline(" ".join(lines))
    text = f"{words}: {prose}" if words and prose else words or prose
    return Block(BlockKind.PARAGRAPH, text) if text else None


_SPHINX_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)?:`([!~]?)([^`<]*?)\s*(?:<[^>]*>)?`")
RST_SETTINGS: dict[str, Any] = {
    "report_level": 5,  # problems are dropped from the text, never printed
    "halt_level": 5,
    "file_insertion_enabled": False,  # untrusted input: no include, no raw
    "raw_enabled": False,
    "_disable_config": True,
    "warning_stream": False,
}


@cache
def _register_sphinx_notes() -> None:
    """Teach docutils Sphinx's version and see-also notes (the admonitions docutils lacks), so
    they read as in MyST ("New in version 2.1: ...") instead of being dropped."""
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives

    class SphinxNote(Directive):
        optional_arguments = 2  # a version, then (without a blank line) its explanation
        final_argument_whitespace = True
        has_content = True

        def run(self) -> list[Any]:
            arguments = list(self.arguments)
            version = arguments.pop(0) if arguments and self.name != "seealso" else ""
            words = " ".join(part for part in (_ADMONITIONS[self.name], version) if part)
            prose = " ".join(" ".join([*arguments, *self.content]).split())
            text = f"{words}: {prose}" if prose else words
            inline, messages = self.state.inline_text(text, self.lineno)
            return [nodes.paragraph(text, "", *inline), *messages]

    for name in ("versionadded", "versionchanged", "deprecated", "seealso"):
        directives.register_directive(name, SphinxNote)


def rst_blocks(text: str) -> list[Block]:
    """reStructuredText as blocks. Sphinx roles read as their text, Sphinx's version notes as
    prose; other directives docutils does not know (toctree...) are dropped rather than shown
    as markup."""
    from docutils.core import publish_doctree

    _register_sphinx_notes()
    text = _SPHINX_ROLE.sub(lambda m: f"``{m.group(2)}``" if m.group(2) else "", text)
    from docutils import nodes

    doctree = publish_doctree(text, settings_overrides=RST_SETTINGS)
    # A promoted document title is level 1, so the top sections under it are level 2.
    titled = any(isinstance(child, nodes.title) for child in doctree.children)
    blocks: list[Block] = []
    _rst_walk(doctree, 1 if titled else 0, blocks)
    return blocks


def _rst_walk(node: Any, depth: int, blocks: list[Block]) -> None:
    from docutils import nodes

    for child in node.children:
        if isinstance(child, nodes.section):
            _rst_walk(child, depth + 1, blocks)
        elif isinstance(child, nodes.title):
            blocks.append(Block(BlockKind.HEADING, _flat(child), level=max(depth, 1)))
        elif isinstance(child, nodes.paragraph):
            blocks.append(Block(BlockKind.PARAGRAPH, _flat(child)))
        elif isinstance(child, nodes.literal_block | nodes.doctest_block):
            blocks.append(Block(BlockKind.CODE, child.astext()))
        elif isinstance(child, nodes.table):
            rows = [[_flat(cell) for cell in row.children] for row in child.findall(nodes.row)]
            blocks.append(Block(BlockKind.TABLE, "\n".join(f"| {' | '.join(r)} |" for r in rows)))
        elif isinstance(child, nodes.Admonition):
            label = child.__class__.__name__.capitalize()
            blocks.append(Block(BlockKind.PARAGRAPH, f"{label}: {_flat(child)}"))
        elif isinstance(child, nodes.topic) and "contents" in child["classes"]:
            continue  # a generated table of contents
        elif not isinstance(child, _rst_skip()):
            _rst_walk(child, depth, blocks)


def _flat(node: Any) -> str:
    return normalize(" ".join(node.astext().split()))


def _rst_skip() -> tuple[type, ...]:
    from docutils import nodes

    return (
        nodes.system_message,
        nodes.comment,
        nodes.substitution_definition,
        nodes.target,
        nodes.raw,
        nodes.Text,
        nodes.docinfo,
    )
