"""The registry and the vector store must describe the same documents.

Checked when a process opens the embedded store (``check_at_start``): a deleted or replaced
store folder, a lost registry or a damaged segment stops the process with one message naming
the path and the way out, instead of serving empty results. ``ragfleet doctor`` surveys every
collection down to single documents and repairs what can be repaired: registry entries whose
points are gone are forgotten (their sources are listed, to ingest again), and points no
registry entry owns are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragfleet.errors import IntegrityError, RagfleetError
from ragfleet.registry.repository import Registry
from ragfleet.retrieval.store import VectorStore


@dataclass(slots=True)
class CollectionState:
    name: str
    documents: int  # documents of the collection in the registry (indexed ones counted here)
    points: int  # points in the store
    known: bool  # the registry has any document of the collection, whatever its status
    unindexed_sources: list[str] = field(default_factory=list)  # filled by ``survey(deep)``

    @property
    def store_lost(self) -> bool:
        return self.documents > 0 and self.points == 0

    @property
    def registry_lost(self) -> bool:
        return self.points > 0 and not self.known

    @property
    def healthy(self) -> bool:
        return not (self.store_lost or self.registry_lost or self.unindexed_sources)


def survey(registry: Registry, store: VectorStore, *, deep: bool = False) -> list[CollectionState]:
    """Every collection either side knows; ``deep`` also checks each indexed document has
    points (one count per document)."""
    indexed = registry.indexed_counts()
    states: list[CollectionState] = []
    for name in sorted(set(indexed) | set(store.collections())):
        state = CollectionState(name, indexed.get(name, 0), store.count(name), name in indexed)
        if deep and state.documents and not state.store_lost:
            state.unindexed_sources = [
                row.source or row.id
                for row in registry.indexed_documents(name)
                if store.count(name, row.id) == 0
            ]
        states.append(state)
    return states


def check_at_start(registry: Registry, store: VectorStore, where: str) -> None:
    """Refuse to serve from a store and registry that disagree (see the module docstring)."""
    try:
        states = survey(registry, store)
    except RagfleetError as exc:
        raise IntegrityError(
            f"cannot read the vector store at {where}: {exc.message}; move the damaged folder "
            "aside and run `ragfleet doctor --repair`, or restore it from a backup"
        ) from exc
    for state in states:
        if state.store_lost:
            raise IntegrityError(
                f"collection {state.name!r} has {state.documents} indexed document(s) in the "
                f"registry but no points in the vector store at {where}; restore the store, or "
                "run `ragfleet doctor --repair` to forget them and ingest them again"
            )
        if state.registry_lost:
            raise IntegrityError(
                f"collection {state.name!r} has {state.points} point(s) in the vector store at "
                f"{where} but no document in the registry; restore the registry, or run "
                "`ragfleet doctor --repair` to drop them"
            )


@dataclass(slots=True)
class Repaired:
    forgotten: list[str] = field(default_factory=list)  # sources to ingest again
    dropped_collections: list[str] = field(default_factory=list)


def repair(registry: Registry, store: VectorStore, states: list[CollectionState]) -> Repaired:
    """Forget registry entries without points; drop store collections nobody registered."""
    done = Repaired()
    for state in states:
        if state.registry_lost:
            store.drop_collection(state.name)
            done.dropped_collections.append(state.name)
            continue
        missing = set(state.unindexed_sources)
        for row in registry.indexed_documents(state.name):
            if state.store_lost or (row.source or row.id) in missing:
                registry.delete_document(row.id)
                done.forgotten.append(f"{state.name}/{row.source or row.id}")
    return done
