"""A document whose write fails takes only itself down, not the others in its batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from fastapi.testclient import TestClient

from ragfleet.domain import IndexedChunk
from ragfleet.retrieval.store import VectorStore
from ragfleet.services import Services
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import wait_for_job


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
