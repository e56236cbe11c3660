from __future__ import annotations

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.generation.answerer import cite, cited_numbers
from ragfleet.generation.extractive import ExtractiveAnswerer
from ragfleet.generation.prompt import SYSTEM_PROMPT, build_messages
from ragfleet.retrieval.sparse import SparseEncoder
from tests.utils.hits import search_hit


def hit(n: int, text: str) -> SearchHit:
    return search_hit(1.0 / n, f"c{n}", f"d{n}", title=f"T{n}", section="", text=text, page=n)


PASSAGES = [
    hit(1, "The cafeteria opens at noon. Lunch is served until two."),
    hit(2, "Qdrant stores vectors. It supports payload filters on every query."),
]


def test_cite_maps_markers_in_order_and_ignores_unknown_numbers() -> None:
    numbers = cited_numbers("Filters exist [2]. Noon [1][2]. Bogus [7].")
    assert numbers == [2, 1, 7]
    citations = cite(numbers, PASSAGES)
    assert [(c.n, c.document_id, c.chunk_id, c.page) for c in citations] == [
        (2, "d2", "c2", 2),
        (1, "d1", "c1", 1),
    ]


def test_prompt_keeps_instructions_out_of_the_user_turn() -> None:
    system, user = build_messages("When is lunch?", PASSAGES, code="c0de")
    assert system == {"role": "system", "content": SYSTEM_PROMPT.format(code="c0de")}
    assert user["role"] == "user" and "c0de" in system["content"]
    assert "\u27e6passage 1 c0de\u27e7\nT1\nThe cafeteria" in user["content"]
    assert "\u27e6passage 2 c0de\u27e7\nT2" in user["content"]
    assert user["content"].endswith(
        "\u27e6question c0de\u27e7\nWhen is lunch?\n\u27e6end question c0de\u27e7"
    )


def test_extractive_picks_supported_sentences(embedder: Embedder) -> None:
    answerer = ExtractiveAnswerer(embedder, SparseEncoder(), sentences=1)
    answer = answerer.answer("Can Qdrant filter payloads?", PASSAGES)
    assert answer == ("It supports payload filters on every query. [2]", [2])
