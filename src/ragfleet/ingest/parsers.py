"""Turn uploaded bytes into structured documents: headings, paragraphs, tables and code blocks.

Every parser returns blocks in reading order so the chunker can follow the document's structure.
Bad input raises a ``BadInputError`` subclass with a reason a person can act on.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any

import charset_normalizer
from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

from ragfleet.domain import Block, BlockKind, MetadataValue, ParsedDocument
from ragfleet.errors import (
    BadInputError,
    EmptyDocumentError,
    RagfleetError,
    UnsupportedDocumentError,
)
from ragfleet.ingest import markup
from ragfleet.text import decode, normalize

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_MD_FENCE = re.compile(r"^(`{3,}|~{3,}|:{3,}(?=\{))")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HTML_DROP = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg"]
_HTML_DROP_SELECTOR = ", ".join(
    [
        "[role=navigation]",
        "[role=banner]",
        "[role=contentinfo]",
        "[role=search]",
        "[aria-hidden=true]",
        ".nav-panel",  # Texinfo: Next / Previous / Up
        "div.header",
        "div.footer",
        "div.navigation",
        ".related",  # Sphinx: the navigation bars
        ".sphinxsidebar",
        ".headerlink",  # Sphinx: the ¶ after each heading
        ".breadcrumbs",
        ".skip-link",
    ]
)
_HTML_TEXT_BLOCKS = {"p", "li", "dt", "dd", "figcaption", "blockquote", "caption", "summary"}
# Without a BOM these are guesses that turn short single-byte text into CJK.
_WIDE_ENCODINGS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]
_RECORD_TEXT_KEYS = ("text", "content", "body")
_RECORD_TITLE_KEYS = ("title", "name", "heading")
_RECORD_ID_KEYS = ("_id", "id", "doc_id")


def _blocks_from_markdown(text: str) -> list[Block]:
    """Headings (ATX and setext), fenced code, MyST directives, pipe tables and paragraphs of
    a Markdown (or plain) text; inline links, images and badges are read as their text."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    lines = text.split("\n")

    def flush() -> None:
        if paragraph:
            table = _is_pipe_table(paragraph)
            # Soft-wrapped paragraph lines are one line of text; table rows stay rows.
            joined = "\n".join(paragraph).strip() if table else markup.inline(" ".join(paragraph))
            if joined:
                blocks.append(Block(BlockKind.TABLE if table else BlockKind.PARAGRAPH, joined))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if fence := _MD_FENCE.match(line.strip()):
            flush()
            i, block = _fenced(lines, i, fence.group(1))
            if block is not None:
                blocks.append(block)
        elif heading := _MD_HEADING.match(line):
            flush()
            text = markup.inline(heading.group(2))
            blocks.append(Block(BlockKind.HEADING, text, level=len(heading.group(1))))
        elif paragraph and not _is_pipe_table(paragraph) and _SETEXT.match(line):
            text = markup.inline(" ".join(paragraph))
            paragraph.clear()
            blocks.append(Block(BlockKind.HEADING, text, level=1 if line[0] == "=" else 2))
        elif not line.strip() or (not paragraph and _THEMATIC_BREAK.match(line)):
            flush()
        else:
            if paragraph and _is_pipe_table(paragraph) != _is_pipe_table([line]):
                flush()
            paragraph.append(line)
        i += 1
    flush()
    return [block for block in blocks if block.text]


def _fenced(lines: list[str], start: int, marker: str) -> tuple[int, Block | None]:
    """The fenced block opening at ``start``: code, or a MyST directive as a reader sees it.
    Returns the index of the closing fence and the block."""
    opening, body = lines[start], []
    i = start + 1
    while i < len(lines) and not lines[i].strip().startswith(marker):
        body.append(lines[i])
        i += 1
    if opening.strip()[len(marker) :].startswith("{"):
        return i, markup.directive(opening, body)
    closing = lines[i] if i < len(lines) else ""
    return i, Block(BlockKind.CODE, "\n".join([opening, *body, closing]).strip())


def _is_pipe_table(lines: list[str]) -> bool:
    return all(line.strip().startswith("|") for line in lines)


def _title_from(blocks: list[Block], fallback: str) -> str:
    for block in blocks:
        if block.kind is BlockKind.HEADING:
            return block.text
    return fallback


def parse_markdown(data: bytes, name: str) -> list[ParsedDocument]:
    # Before normalising, which would flatten the YAML's indentation.
    text, metadata = markup.front_matter(decode_text(data).replace("\r\n", "\n"))
    blocks = _blocks_from_markdown(normalize(text))
    title = metadata.get("title")
    if not isinstance(title, str) or not title.strip():
        title = _title_from(blocks, PurePath(name).stem)
    return [ParsedDocument(markup.inline(title), name, blocks, metadata)]


def parse_rst(data: bytes, name: str) -> list[ParsedDocument]:
    # Indentation is structure in reStructuredText: block texts are normalised, not the source.
    blocks = markup.rst_blocks(decode_text(data).replace("\r\n", "\n"))
    return [ParsedDocument(_title_from(blocks, PurePath(name).stem), name, blocks)]


def parse_plain_text(data: bytes, name: str) -> list[ParsedDocument]:
    text = normalize(decode_text(data))
    blocks = [Block(BlockKind.PARAGRAPH, p.strip()) for p in text.split("\n\n") if p.strip()]
    return [ParsedDocument(PurePath(name).stem, name, blocks)]


def _table_text(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows if any(cells))


def _html_blocks(element: Tag) -> Iterator[Block]:
    loose: list[str] = []

    def loose_block() -> Iterator[Block]:
        text = normalize(" ".join(loose))
        loose.clear()
        if text:
            yield Block(BlockKind.PARAGRAPH, text)

    for child in element.children:
        if isinstance(child, NavigableString):
            loose.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name in ("span", "a", "em", "strong", "b", "i", "code", "small", "sup", "sub", "br"):
            loose.append(child.get_text(" "))
            continue
        yield from loose_block()
        if name in _HTML_HEADINGS:
            text = normalize(child.get_text(" "))
            if text:
                yield Block(BlockKind.HEADING, text, level=_HTML_HEADINGS[name])
        elif name == "table":
            rows = [
                [normalize(cell.get_text(" ")) for cell in row.find_all(["th", "td"])]
                for row in child.find_all("tr")
            ]
            if text := _table_text(rows):
                yield Block(BlockKind.TABLE, text)
        elif name == "pre":
            if text := child.get_text().strip("\n"):
                yield Block(BlockKind.CODE, text)
        elif name in _HTML_TEXT_BLOCKS and not child.find(["p", "ul", "ol", "table", "pre"]):
            if text := normalize(child.get_text(" ")):
                yield Block(BlockKind.PARAGRAPH, text)
        else:
            yield from _html_blocks(child)
    yield from loose_block()


def parse_html(data: bytes, name: str) -> list[ParsedDocument]:
    """The page's main content: navigation bars, sidebars, headers, footers and permalink
    markers (Sphinx, Texinfo and ARIA conventions) are not indexed."""
    soup = BeautifulSoup(decode_text(data), "lxml")
    for tag in soup(_HTML_DROP):
        tag.decompose()
    for tag in soup.select(_HTML_DROP_SELECTOR):
        tag.decompose()
    root = (
        soup.find("main")
        or soup.find(None, {"role": "main"})
        or soup.find("article")
        or soup.body
        or soup
    )
    assert isinstance(root, Tag)
    blocks = list(_html_blocks(root))
    title_tag = soup.find("title")
    fallback = normalize(title_tag.get_text()) if title_tag else ""
    return [ParsedDocument(fallback or _title_from(blocks, PurePath(name).stem), name, blocks)]


def parse_pdf(data: bytes, name: str) -> list[ParsedDocument]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise BadInputError("the PDF is encrypted; upload a decrypted copy")
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, start=1):
            text = normalize(page.extract_text() or "")
            blocks.extend(
                Block(BlockKind.PARAGRAPH, para.replace("\n", " "), page=number)
                for para in text.split("\n\n")
                if para.strip()
            )
        info = reader.metadata
        title = str(info.get("/Title") or "") if info else ""
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise BadInputError(f"the PDF could not be read: {exc}") from exc
    if not blocks:
        raise EmptyDocumentError("the PDF has no text layer (scanned pages need OCR first)")
    return [ParsedDocument(normalize(title) or PurePath(name).stem, name, blocks)]


def parse_docx(data: bytes, name: str) -> list[ParsedDocument]:
    import zipfile

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BadInputError(f"the DOCX could not be read: {exc}") from exc
    blocks: list[Block] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = [[normalize(cell.text) for cell in row.cells] for row in item.rows]
            if text := _table_text(rows):
                blocks.append(Block(BlockKind.TABLE, text))
            continue
        assert isinstance(item, Paragraph)
        text = normalize(item.text)
        style = item.style.name if item.style is not None else ""
        if not text:
            continue
        if style == "Title":
            title = title or text
            blocks.append(Block(BlockKind.HEADING, text, level=1))
        elif match := re.fullmatch(r"Heading (\d)", style or ""):
            blocks.append(Block(BlockKind.HEADING, text, level=int(match.group(1))))
        else:
            blocks.append(Block(BlockKind.PARAGRAPH, text))
    core_title = normalize(document.core_properties.title or "")
    return [
        ParsedDocument(
            core_title or title or _title_from(blocks, PurePath(name).stem), name, blocks
        )
    ]


def _scalar_metadata(record: dict[str, Any], skip: set[str]) -> dict[str, MetadataValue]:
    meta: dict[str, MetadataValue] = {}
    for key, value in record.items():
        if key in skip or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", key):
            continue
        if isinstance(value, str | int | float | bool):
            meta[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            meta[key] = [str(v) for v in value]
    return meta


def _record_document(record: dict[str, Any], name: str, position: int) -> ParsedDocument | None:
    text_key = next((k for k in _RECORD_TEXT_KEYS if isinstance(record.get(k), str)), None)
    if text_key is None:
        return None
    title_key = next((k for k in _RECORD_TITLE_KEYS if isinstance(record.get(k), str)), None)
    id_key = next((k for k in _RECORD_ID_KEYS if record.get(k) is not None), None)
    record_id = str(record[id_key]) if id_key else str(position)
    title = normalize(record[title_key]) if title_key else f"{PurePath(name).stem} #{record_id}"
    blocks = _blocks_from_markdown(normalize(record[text_key]))
    skip = {k for k in (text_key, title_key, id_key) if k}
    return ParsedDocument(
        title, f"{name}#{record_id}", blocks, _scalar_metadata(record, skip | {"metadata"})
    )


def _records(value: Any, name: str) -> list[ParsedDocument]:
    items = value if isinstance(value, list) else [value]
    documents = [
        doc
        for position, item in enumerate(items)
        if isinstance(item, dict) and (doc := _record_document(item, name, position)) is not None
    ]
    if documents:
        return documents
    rendered = normalize(json.dumps(value, indent=2, ensure_ascii=False))
    return [ParsedDocument(PurePath(name).stem, name, [Block(BlockKind.CODE, rendered)])]


def parse_json(data: bytes, name: str) -> list[ParsedDocument]:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise BadInputError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    return _records(value, name)


def parse_jsonl(data: bytes, name: str) -> list[ParsedDocument]:
    values = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BadInputError(f"invalid JSON on line {number}: {exc.msg}") from exc
    return _records(values, name)


Parser = Callable[[bytes, str], list[ParsedDocument]]

PARSERS: dict[str, Parser] = {
    ".txt": parse_plain_text,
    ".text": parse_plain_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".rst": parse_rst,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".json": parse_json,
    ".jsonl": parse_jsonl,
}


MAX_TITLE_CHARS = 1024
MAX_SOURCE_CHARS = 2048


def _bounded(document: ParsedDocument) -> ParsedDocument:
    """Titles and sources fit the registry's columns, whatever the file claims."""
    document.title = normalize(document.title)[:MAX_TITLE_CHARS]
    document.source = normalize(document.source)[:MAX_SOURCE_CHARS]
    return document


def supported(name: str) -> bool:
    return PurePath(name).suffix.lower() in PARSERS


def decode_text(data: bytes) -> str:
    """UTF-8 or UTF-16 with a BOM; otherwise the encoding charset-normalizer finds plausible,
    Windows-1252 (a superset of Latin-1, the most common legacy encoding) first when it is
    among them. Bytes no encoding explains are refused."""
    try:
        return decode(data)
    except BadInputError:
        matches = charset_normalizer.from_bytes(data, cp_exclusion=_WIDE_ENCODINGS)
        best = next((m for m in matches if m.encoding == "cp1252"), matches.best())
        if best is None:
            raise
        return str(best)


def parse_file(name: str, data: bytes) -> list[ParsedDocument]:
    """Parse by file extension; documents that hold no text after parsing are dropped."""
    suffix = PurePath(name).suffix.lower()
    parser = PARSERS.get(suffix)
    if parser is None:
        allowed = ", ".join(sorted(PARSERS))
        raise UnsupportedDocumentError(
            f"unsupported file type {suffix or '(none)'!r}; supported: {allowed}"
        )
    try:
        parsed = parser(data, name)
    except RagfleetError:
        raise
    except Exception as exc:  # untrusted bytes: any parser failure is the input's fault
        raise BadInputError(f"{name} could not be parsed ({type(exc).__name__}: {exc})") from exc
    documents = [_bounded(doc) for doc in parsed if doc.text.strip()]
    if not documents:
        raise EmptyDocumentError(f"{name} contains no text")
    return documents


def parse_text(
    text: str, title: str | None, source: str | None, metadata: dict[str, MetadataValue]
) -> ParsedDocument:
    """A document posted as JSON: Markdown structure in the text is honoured."""
    blocks = _blocks_from_markdown(normalize(text))
    if not blocks:
        raise EmptyDocumentError("the document text is empty")
    name = source or "inline"
    return _bounded(
        ParsedDocument(title or _title_from(blocks, name), source or "", blocks, metadata)
    )
