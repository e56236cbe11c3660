"""A document whose write fails takes only itself down, not the others in its batch."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import cast

from fastapi.testclient import TestClient

from ragfleet.domain import IndexedChunk
from ragfleet.retrieval.store import VectorStore
from ragfleet.services import Services
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import ingest_text, wait_for_job


class PoisonStore:
    """Refuses any upsert holding a chunk of the source ``poison`` (as a store refuses a
    payload it cannot take), around the real store."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner

    def upsert(self, collection: str, points: Sequence[IndexedChunk]) -> None:
        if any(point.payload.source == "poison" for point in points):
            raise ValueError("payload refused by the store")
        self.inner.upsert(collection, points)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_one_bad_document_fails_alone(client: TestClient, services: Services) -> None:
    services.indexer.store = cast(VectorStore, PoisonStore(services.store))
    services.runner.stop()  # queue all three, then run them as one batch
    texts = {"guide": GUIDE_MD, "poison": "# Poison\n\nThis one breaks.", "astro": ASTRONOMY_MD}
    jobs = {
        source: client.post("/v1/documents", json={"text": text, "source": source}).json()["data"][
            0
        ]
        for source, text in texts.items()
    }
    services.runner.start()

    done = {source: wait_for_job(client, accepted["job_id"]) for source, accepted in jobs.items()}

    assert done["poison"]["status"] == "failed"
    assert "payload refused" in done["poison"]["error"]
    assert done["guide"]["status"] == done["astro"]["status"] == "succeeded"
    hits = client.post("/v1/search", json={"query": "largest planet"}).json()["data"]
    assert hits[0]["title"] == "Astronomy"


def test_small_documents_go_live_before_a_huge_one_in_their_batch(
    client: TestClient, services: Services
) -> None:
    services.indexer.embed_batch = 16  # the huge document is several rounds, the small ones one
    services.runner.stop()  # queue them all, then run them as one batch
    huge = "\n\n".join(f"Paragraph {n} about tidal locking of moons." * 3 for n in range(200))
    posted = [
        client.post("/v1/documents", json={"text": text, "source": source}).json()["data"][0]
        for source, text in (("huge", huge), ("guide", GUIDE_MD), ("astro", ASTRONOMY_MD))
    ]
    services.runner.start()

    huge_job, guide, astro = (wait_for_job(client, accepted["job_id"]) for accepted in posted)

    assert {huge_job["status"], guide["status"], astro["status"]} == {"succeeded"}
    chunks = [
        client.get(f"/v1/documents/{job['document_id']}").json()["chunk_count"]
        for job in (huge_job, guide, astro)
    ]
    assert chunks[0] > 16 >= chunks[1] + chunks[2]
    assert max(guide["finished_at"], astro["finished_at"]) < huge_job["finished_at"]


class HoldingStore:
    """Holds every upsert of the source ``huge`` until ``release`` is set, around the real
    store: a document that is still embedding, for as long as the test needs."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner
        self.holding = threading.Event()
        self.release = threading.Event()

    def upsert(self, collection: str, points: Sequence[IndexedChunk]) -> None:
        if any(point.payload.source == "huge" for point in points):
            self.holding.set()
            self.release.wait(timeout=60)
        self.inner.upsert(collection, points)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_document_uploaded_during_a_huge_one_does_not_wait_for_it(
    client: TestClient, services: Services
) -> None:
    store = HoldingStore(services.store)
    services.indexer.store = cast(VectorStore, store)
    huge = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "huge"}).json()
    assert store.holding.wait(timeout=30)  # the huge document is being written
    try:
        small = ingest_text(client, ASTRONOMY_MD, source="small")
        assert small["job"]["status"] == "succeeded"
        assert client.get(f"/v1/jobs/{huge['data'][0]['job_id']}").json()["status"] == "running"
    finally:
        store.release.set()
    assert wait_for_job(client, huge["data"][0]["job_id"])["status"] == "succeeded"
