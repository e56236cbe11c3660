"""Realistic documentation files (tests/ingest/fixtures) parse and chunk into the text a reader
of the rendered page sees: no front matter, badges, directives, navigation bars or permalinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.parsers import parse_file
from tests.utils.documents import make_pdf

FIXTURES = Path(__file__).parent / "fixtures"

# file -> (title, metadata, [(section, chunk text)])
EXPECTED: dict[str, tuple[str, dict[str, object], list[tuple[str, str]]]] = {
    "getting-started.md": (
        "Getting started with tidepool",
        {
            "title": "Getting started with tidepool",
            "hide_toc": True,
            "tags": ["install", "quickstart"],
        },
        [
            (
                "Tidepool",
                "Tidepool syncs tide tables to your calendar. See the user guide for details.",
            ),
            (
                "Tidepool > Installation",
                "Install it with `pip install tidepool` on Python 3.10 or newer.\n\n"
                "New in version 2.1: The `--offline` flag reads cached tables.\n\n"
                "Note: Tables are cached for seven days.\n\n"
                "```console\n$ tidepool sync --offline\n```\n\n"
                "| command | effect |\n| --- | --- |\n| sync | fetch tables |",
            ),
        ],
    ),
    "sphinx-page.html": (
        "Configuration — tidepool 2.1 documentation",
        {},
        [
            ("Configuration", "Tidepool reads tidepool.toml from the working directory."),
            (
                "Configuration > Stations",
                'Set station to the id of the nearest tide gauge.\n\nstation = "8443970"',
            ),
        ],
    ),
    "texinfo-manual.html": (
        "The Basics (libtide)",
        {},
        [
            (
                "2.1 The Basics",
                "libtide assumes that you have a pointer to the function you wish to call and "
                "that you know the number and types of arguments to pass it.\n\n"
                "The first thing you must do is create a tide_cif object that matches the "
                "signature of the function.",
            )
        ],
    ),
    "api.rst": (
        "API reference",
        {},
        [
            (
                "API reference > Connecting",
                "Call tidepool.connect with a station id. It returns a tidepool.Client.\n\n"
                'client = tidepool.connect("8443970")\n\n'
                "Note: Connections time out after thirty seconds.\n\n"
                "New in version 2.1\n\n"
                "Deprecated since version 3.0: Use tidepool.open instead.",
            ),
            ("API reference > Limits", "| name | value |\n| requests | 600 a minute |"),
        ],
    ),
    "harbour-notes.txt": (
        "harbour-notes",
        {},
        [
            (
                "",
                "Notes from the harbour master\n\n"
                "The café on the quay opens at six; crème brûlée is served after the noon tide.\n"
                "Señor Muñoz keeps the keys to the pier gate.",
            )
        ],
    ),
}


def chunks(name: str, data: bytes) -> tuple[str, dict[str, object], list[tuple[str, str]]]:
    (document,) = parse_file(name, data)
    pieces = [(c.section, c.text) for c in Chunker(200, 20).chunk(document)]
    return document.title, dict(document.metadata), pieces


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_chunks(name: str) -> None:
    assert chunks(name, (FIXTURES / name).read_bytes()) == EXPECTED[name]


def test_fixture_corpus_is_complete() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(EXPECTED)


def test_latin1_fixture_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        (FIXTURES / "harbour-notes.txt").read_bytes().decode("utf-8")


def test_pdf_keeps_underscores_in_identifiers() -> None:
    pdf = make_pdf(["Set max_retries with set_option(name, value) before connect_all runs."])
    _, _, pieces = chunks("options.pdf", pdf)
    assert pieces == [("", "Set max_retries with set_option(name, value) before connect_all runs.")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Title\n=====\n\nBody.", [("heading", "Title", 1), ("paragraph", "Body.", 0)]),
        ("Sub\n---\n\nBody.", [("heading", "Sub", 2), ("paragraph", "Body.", 0)]),
        ("Before.\n\n---\n\nAfter.", [("paragraph", "Before.", 0), ("paragraph", "After.", 0)]),
        ("---\nnot: [closed\n", [("paragraph", "not: [closed", 0)]),
        (
            "```{warning} Slow\nTakes *hours*.\n```",
            [("paragraph", "Warning Slow: Takes *hours*.", 0)],
        ),
        ("```{image} logo.png\n:alt: logo\n```\n\nText.", [("paragraph", "Text.", 0)]),
        ("Use {func}`connect <api.connect>` here.", [("paragraph", "Use connect here.", 0)]),
    ],
)
def test_markdown_structure(text: str, expected: list[tuple[str, str, int]]) -> None:
    (document,) = parse_file("t.md", text.encode())
    assert [(b.kind.value, b.text, b.level) for b in document.blocks] == expected
