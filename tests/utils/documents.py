"""Documents for the tests, built in code so each test shows what it feeds in."""

from __future__ import annotations

import io

GUIDE_MD = """# Guide

## Install

### Linux

Install ragfleet with pip on Linux. It needs Python 3.11 or newer.

## Configure

Set RAGFLEET_QDRANT__URL to use a Qdrant server.

| setting | meaning |
| --- | --- |
| RAGFLEET_QDRANT__URL | vector store |
"""

ASTRONOMY_MD = """# Astronomy

Jupiter is the largest planet in the solar system. Saturn has the most visible rings.
"""


def make_pdf(pages: list[str]) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for text in pages:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_docx(title: str, heading: str, paragraph: str, rows: list[list[str]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    document.add_heading(heading, level=1)
    document.add_paragraph(paragraph)
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_hostile_docx(document_xml: bytes) -> bytes:
    """A DOCX whose body is ``document_xml`` as given: the shapes a crafted upload takes
    (millions of empty paragraphs, a body that inflates to hundreds of megabytes)."""
    import zipfile

    from tests.utils.docx_parts import CONTENT_TYPES, PACKAGE_RELS

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        archive.writestr("word/document.xml", document_xml)
    return buffer.getvalue()


WORD_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_body(inner: bytes) -> bytes:
    return b"<w:document " + WORD_NS + b"><w:body>" + inner + b"</w:body></w:document>"
