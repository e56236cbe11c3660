"""ragfleet's runner for bench/peers.py: the embedded default in-process, indexed and searched
through its services as ``ragfleet eval beir`` does, in a fresh data folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from workload import Corpus, Search, run

from ragfleet.cli.eval_commands import index_corpus
from ragfleet.evaluation.beir import RANK_DEPTH, Dataset, rank_documents
from ragfleet.retrieval.search import SearchRequest
from ragfleet.retrieval.store import SearchMode
from ragfleet.services import build_services
from ragfleet.settings import Settings

COLLECTION = "peers"


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir))
        retrieval = settings.retrieval
        retrieval.max_top_k = max(retrieval.max_top_k, RANK_DEPTH * 3)  # as the eval allows
        services = build_services(settings)
        services.embedder.embed(["warm up"])

        def search(mode: str, text: str, top_k: int) -> list[str]:
            request = SearchRequest(text, COLLECTION, top_k, SearchMode(mode))
            return rank_documents(services.search.search(request).hits, top_k)

        def index(corpus: Corpus) -> tuple[Search, int]:
            dataset = Dataset({i: (title, text) for i, title, text in corpus}, {}, {})
            index_corpus(services, dataset, COLLECTION, reindex=False)
            return search, services.store.count(COLLECTION)

        try:
            run(index, ["ragfleet", "onnxruntime"])
        finally:
            services.close()


if __name__ == "__main__":
    main()
