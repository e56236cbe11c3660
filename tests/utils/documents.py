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
