"""The browser app end to end: upload with progress, a streamed answer, citations, feedback,
documents, the API docs, all in headless Chromium against a live server with no network."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from ragfleet.embedding import Embedder
from ragfleet.registry.tables import FeedbackRow
from ragfleet.services import build_services
from ragfleet.settings import AuthSettings, Settings
from tests.web.conftest import LiveServer, open_page, serve

KEY = "k3y-for-the-browser-test"

ORBITS_MD = """# Orbits

## Mars

Mars takes 687 Earth days to orbit the Sun. Its two moons are called Phobos and Deimos.
Olympus Mons on Mars is the tallest volcano in the solar system.

## Venus

Venus rotates backwards compared with most planets. A day on Venus lasts longer than its year.
"""

TIDES_MD = """# Tides

The Moon's gravity raises two bulges in the oceans, which cause the tides.
Spring tides happen when the Sun and the Moon line up.
"""


def _ready(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def _upload(page: Page, files: dict[str, str], folder: Path) -> None:
    """Write ``files`` under ``folder``, upload the folder and wait for every job to finish."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    page.set_input_files("#folder", str(folder))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-status")).to_have_text("All documents indexed.", timeout=120_000)
    expect(page.locator("#jobs li[data-status=succeeded] progress")).to_have_count(len(files))


def test_upload_ask_stream_cite_and_rate(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    _ready(page, live_server)
    _upload(page, {"orbits.md": ORBITS_MD, "tides.md": TIDES_MD}, tmp_path / "corpus")
    rows = page.locator("#documents tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#documents")).to_contain_text("Orbits")
    # Folder uploads keep the path under the chosen folder as the source.
    expect(page.locator("#jobs")).to_contain_text("corpus/orbits.md")

    page.get_by_label("Question").fill("How long does Mars take to orbit the Sun?")
    page.get_by_label("Question").press("Enter")  # the keyboard alone sends the question
    turn = page.locator(".turn").last
    expect(turn.locator(".feedback")).to_be_visible(timeout=60_000)
    answer = turn.locator(".answer")
    expect(answer).to_contain_text("687 Earth days")
    # Sentence by sentence: more than one token event reached the page.
    assert int(answer.get_attribute("data-tokens") or "0") > 1

    answer.locator("button.cite").first.click()
    dialog = page.locator("#passage")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#passage-title")).to_contain_text("Orbits")
    expect(dialog.locator("#passage-section")).to_contain_text("Mars")
    expect(dialog.locator("#passage-text")).to_contain_text("687")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    turn.get_by_role("button", name="Helpful", exact=True).click()
    expect(turn.locator(".thanks")).to_have_text("Thanks, recorded.")
    expect(turn.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    with live_server.services.registry.session() as session:
        ratings = list(session.scalars(select(FeedbackRow.rating)))
    assert ratings == ["up"]
    assert live_server.offsite == []


def test_delete_document_from_the_list(page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    _ready(page, live_server)
    _upload(page, {"tides.md": TIDES_MD}, tmp_path / "corpus")
    page.get_by_role("button", name="Delete Tides").click()
    expect(page.locator("#upload-status")).to_have_text("Deleted Tides.")
    expect(page.locator("#documents tbody tr")).to_have_count(0)
    assert live_server.services.registry.list_documents(None, 10, 0, None)[1] == 0


def test_each_file_gets_its_outcome(page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "song.mp3").write_bytes(b"ID3\x00\x00")
    (folder / "tides.md").write_text(TIDES_MD)
    _ready(page, live_server)
    page.set_input_files("#files", [str(folder / "song.mp3"), str(folder / "tides.md")])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-status")).to_have_text("1 file(s) not indexed.", timeout=60_000)
    refused = page.locator("#jobs li[data-status=refused]")
    expect(refused).to_contain_text("song.mp3: unsupported file type '.mp3'")
    expect(page.locator("#jobs li[data-status=succeeded]")).to_contain_text("tides.md")
    expect(page.locator("#documents tbody tr")).to_have_count(1)

    page.set_input_files("#files", [str(folder / "song.mp3")])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-status")).to_contain_text("Upload refused: song.mp3")


def test_api_key_field_when_auth_is_on(
    browser: Browser, settings: Settings, embedder: Embedder
) -> None:
    keyed = settings.model_copy(
        update={"auth": AuthSettings.model_validate({"api_keys": [{"name": "ops", "key": KEY}]})}
    )
    services = build_services(keyed, embedder)
    with serve(services) as server:
        page = next(open_page(browser, server, 1280, 900))
        _ready(page, server)
        expect(page.get_by_label("API key")).to_be_visible()
        expect(page.locator("#upload-status")).to_contain_text("API key")
        page.get_by_label("API key").fill(KEY)
        page.get_by_label("API key").press("Enter")
        expect(page.locator("#upload-status")).to_have_text("")
        expect(page.locator("#collections option")).to_have_count(1)
        page.context.close()
    services.close()


def test_phone_width_has_no_sideways_scroll(phone: Page, live_server: LiveServer) -> None:
    _ready(phone, live_server)
    phone.get_by_label("Question").fill("What is ragfleet?")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    chat, library = phone.locator("#chat").bounding_box(), phone.locator("#library").bounding_box()
    assert chat and library and library["y"] >= chat["y"] + chat["height"]  # stacked


def test_every_control_has_a_label(page: Page, live_server: LiveServer) -> None:
    _ready(page, live_server)
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, textarea, select, button')]
             .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                             && !el.textContent.trim())
             .map((el) => el.outerHTML)"""
    )
    assert unlabelled == []


def test_api_docs_render_offline(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    expect(page.locator("#operations-documents-create_documents")).to_be_visible()
    assert live_server.offsite == []
