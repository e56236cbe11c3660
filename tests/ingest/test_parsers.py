from __future__ import annotations

import json

import pytest

from ragfleet.domain import BlockKind
from ragfleet.errors import BadInputError, EmptyDocumentError, UnsupportedDocumentError
from ragfleet.ingest.parsers import parse_file, parse_text
from tests.utils.documents import GUIDE_MD, make_docx, make_pdf


def kinds(name: str, data: bytes) -> list[tuple[BlockKind, str]]:
    (doc,) = parse_file(name, data)
    return [(b.kind, b.text) for b in doc.blocks]


def test_markdown_keeps_headings_tables_and_code() -> None:
    text = GUIDE_MD + "\n```python\nprint('x')\n\nprint('y')\n```\n"
    (doc,) = parse_file("guide.md", text.encode())
    assert doc.title == "Guide"
    assert [b.kind for b in doc.blocks if b.kind is BlockKind.HEADING] == [BlockKind.HEADING] * 4
    tables = [b for b in doc.blocks if b.kind is BlockKind.TABLE]
    assert len(tables) == 1 and tables[0].text.count("\n") == 2
    (code,) = [b for b in doc.blocks if b.kind is BlockKind.CODE]
    assert "print('x')\n\nprint('y')" in code.text


def test_html_drops_scripts_and_navigation() -> None:
    html = b"""<html><head><title>Ops</title><script>var secret=1</script></head><body>
    <nav>Home | Docs</nav><main><h1>Run</h1><p>Start the <b>server</b>.</p>
    <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
    <pre>make run</pre></main><footer>copyright</footer></body></html>"""
    (doc,) = parse_file("ops.html", html)
    assert doc.title == "Ops"
    text = doc.text
    assert "Start the server ." in text or "Start the server." in text
    assert "secret" not in text and "Home" not in text and "copyright" not in text
    assert [b.kind for b in doc.blocks] == [
        BlockKind.HEADING,
        BlockKind.PARAGRAPH,
        BlockKind.TABLE,
        BlockKind.CODE,
    ]


def test_pdf_keeps_page_numbers() -> None:
    (doc,) = parse_file("r.pdf", make_pdf(["First page text.", "Second page text."]))
    assert [(b.page, b.text) for b in doc.blocks] == [
        (1, "First page text."),
        (2, "Second page text."),
    ]


def test_docx_headings_and_tables() -> None:
    data = make_docx("Handbook", "Setup", "Install the tools.", [["k", "v"], ["a", "1"]])
    (doc,) = parse_file("h.docx", data)
    assert doc.title == "Handbook"
    assert (BlockKind.HEADING, "Setup") in [(b.kind, b.text) for b in doc.blocks]
    assert (BlockKind.TABLE, "| k | v |\n| a | 1 |") in [(b.kind, b.text) for b in doc.blocks]


def test_jsonl_records_become_documents_with_metadata() -> None:
    lines = [
        {"_id": "a", "title": "Alpha", "text": "First record.", "lang": "en"},
        {"_id": "b", "title": "Beta", "text": "Second record.", "tags": ["x", "y"]},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    docs = parse_file("recs.jsonl", data)
    assert [(d.title, d.source, d.metadata) for d in docs] == [
        ("Alpha", "recs.jsonl#a", {"lang": "en"}),
        ("Beta", "recs.jsonl#b", {"tags": ["x", "y"]}),
    ]


def test_plain_text_normalises_whitespace_and_bom() -> None:
    (doc,) = parse_file("n.txt", "\ufeffOne  \t line.\r\n\r\n\r\n\r\nTwo\x00 lines.".encode())
    assert [b.text for b in doc.blocks] == ["One line.", "Two lines."]


def _broken_docx() -> bytes:
    """A real DOCX whose main part is not XML."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(make_docx("T", "H", "p", [["a"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = (
                b"<w:document><unclosed"
                if item.filename == "word/document.xml"
                else source.read(item)
            )
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "error", "reason"),
    [
        ("a.exe", b"MZ", UnsupportedDocumentError, "unsupported file type"),
        ("a", b"text", UnsupportedDocumentError, "unsupported file type"),
        ("a.txt", b"  \n\t  ", EmptyDocumentError, "no text"),
        ("a.txt", b"\x00\x81\x8d\x8f" * 20, BadInputError, "not valid UTF-8"),
        ("a.pdf", b"%PDF-1.4 this is not a pdf", BadInputError, "PDF"),
        ("a.docx", b"not a zip", BadInputError, "DOCX"),
        ("a.json", b"{broken", BadInputError, "invalid JSON"),
        ("a.jsonl", b'{"text": "ok"}\n{nope', BadInputError, "line 2"),
        ("a.txt", b"\xff\xfeA\x00B", BadInputError, "not valid UTF-16"),
        ("a.json", b"[" * 100_000, BadInputError, "could not be parsed|invalid JSON"),
        ("a.docx", _broken_docx(), BadInputError, "could not be parsed|DOCX"),
    ],
)
def test_bad_files_are_refused_with_a_reason(
    name: str, data: bytes, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        parse_file(name, data)


def test_pdf_without_text_layer_is_empty() -> None:
    with pytest.raises(EmptyDocumentError, match="no text layer"):
        parse_file("scan.pdf", make_pdf([""]))


def test_titles_are_bounded() -> None:
    html = b"<html><head><title>" + b"T" * 5000 + b"</title></head><body><p>x</p></body></html>"
    (doc,) = parse_file("long.html", html)
    assert len(doc.title) == 1024


def test_parse_text_uses_first_heading_as_title() -> None:
    doc = parse_text("# Title\n\nBody.", None, "src", {"k": 1})
    assert (doc.title, doc.source, doc.metadata) == ("Title", "src", {"k": 1})
