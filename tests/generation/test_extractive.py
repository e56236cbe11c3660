"""Extractive answers: prose only, no repeated sentence, streamed sentence by sentence; and the
relevance signal that makes answers abstain."""

from __future__ import annotations

from ragfleet.embedding import Embedder
from ragfleet.generation.extractive import (
    NO_PROSE,
    ExtractiveAnswerer,
    answer_sentences,
    prose,
)
from ragfleet.generation.grounding import GroundednessScorer
from ragfleet.retrieval.sparse import SparseEncoder
from tests.utils.hits import search_hit

README_CHUNK = """Install the package with pip before anything else.

```sh
pip install ragfleet --upgrade --no-cache-dir
```

| option | meaning |
| --- | --- |
| --upgrade | install the newest version |

src/
├── ragfleet/
└── tests/

    pip install --user ragfleet

Run pip with the upgrade option to install the newest version."""


def test_prose_drops_code_tables_and_trees() -> None:
    text = prose(README_CHUNK)
    assert text == (
        "Install the package with pip before anything else. "
        "Run pip with the upgrade option to install the newest version."
    )


def test_answers_never_quote_code_or_tables(embedder: Embedder) -> None:
    answerer = ExtractiveAnswerer(embedder, SparseEncoder())
    text, cited = answerer.answer(
        "How do I upgrade with pip?", [search_hit(1, "a", "a", text=README_CHUNK)]
    )
    assert "```" not in text and "|" not in text and "├" not in text and "--no-cache" not in text
    assert "upgrade option" in text and set(cited) == {1}
    only_code = search_hit(1, "b", "b", text="```\npip install -U ragfleet\n```")
    assert answerer.answer("How do I upgrade?", [only_code]) == (f"{NO_PROSE} [1]", [1])


def test_a_sentence_repeated_by_overlapping_chunks_is_quoted_once(embedder: Embedder) -> None:
    sentence = "Mars takes 687 Earth days to orbit the Sun."
    passages = [
        search_hit(1, "a", "d", text=f"{sentence} It has two moons."),
        # The next chunk overlaps: it repeats the sentence, once cut short.
        search_hit(0.9, "b", "d", text=f"days to orbit the Sun. {sentence} Phobos is one moon."),
        search_hit(0.8, "c", "d", text="Mars  takes 687 Earth days to  orbit the Sun. Red dust."),
    ]
    text, _ = ExtractiveAnswerer(embedder, SparseEncoder()).answer(
        "How long is a year on Mars?", passages
    )
    assert text.count("687 Earth days") == 1


def test_answer_sentences_cut_after_each_citation() -> None:
    answer = "Mars orbits in 687 days. [1] It has two moons. [2] Phobos is larger. [2]"
    pieces = answer_sentences(answer)
    assert pieces == [
        "Mars orbits in 687 days. [1] ",
        "It has two moons. [2] ",
        "Phobos is larger. [2]",
    ]
    assert "".join(pieces) == answer
    assert answer_sentences("No indexed passage answers this question.") == [
        "No indexed passage answers this question."
    ]


def test_relevance_separates_related_from_unrelated_passages(embedder: Embedder) -> None:
    scorer = GroundednessScorer(embedder, 0.5, 0.6, relevance_floor=0.3)
    planets = [search_hit(1, "a", "a", text="Jupiter is the largest planet in the solar system.")]
    related = scorer.relevance("Which planet is the largest?", planets)
    unrelated = scorer.relevance("How do I rebase a git branch?", planets)
    assert related is not None and unrelated is not None
    assert scorer.relevant(related) and not scorer.relevant(unrelated)
    answered = scorer.support(related, answered=True)
    assert answered.grounded is True and answered.score == round(related, 4) and answered.score < 1
    abstained = scorer.support(unrelated, answered=False)
    assert abstained.grounded is False
    assert scorer.relevance("anything", []) is None and scorer.relevant(None)
