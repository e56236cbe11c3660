"""A real ragfleet app served by uvicorn on loopback, and Debian's Chromium driven by Playwright.

Playwright's own browser download is not used: the tests launch the system ``chromium`` (the
Makefile's ``tools`` target installs it), or ``RAGFLEET_TEST_CHROMIUM``. Every request the
page makes to another host is recorded and aborted, so the pages are shown to work with no
network.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, sync_playwright

from ragfleet.api.app import create_app
from ragfleet.services import Services
from tests.utils.servers import free_port

# Debian's chromium here (make tools); GitHub's Ubuntu runners ship google-chrome instead.
CHROMIUM = (
    os.environ.get("RAGFLEET_TEST_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("google-chrome")
    or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class LiveServer:
    url: str
    services: Services
    offsite: list[str] = field(default_factory=list)


@contextmanager
def serve(services: Services) -> Iterator[LiveServer]:
    """The app on ``services``, served by uvicorn on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        thread.join(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", services)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def live_server(services: Services) -> Iterator[LiveServer]:
    with serve(services) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: Browser, server: LiveServer, width: int, height: int) -> Iterator[Page]:
    """A tab on ``server``; requests to any other host are recorded and aborted."""
    context = browser.new_context(viewport={"width": width, "height": height})

    def offline(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            server.offsite.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A desktop-sized tab on the live server; confirmation prompts are accepted."""
    yield from open_page(browser, live_server, 1280, 900)


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A phone-sized tab on the live server."""
    yield from open_page(browser, live_server, 390, 844)
