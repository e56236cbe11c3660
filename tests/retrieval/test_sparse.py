from __future__ import annotations

import unicodedata

from ragfleet.retrieval.sparse import SparseEncoder


def test_terms_are_stemmed_without_stopwords() -> None:
    assert SparseEncoder().terms("The runners were running to the Running-track") == [
        "runner",
        "run",
        "run",
        "track",
    ]


def test_document_weights_saturate_and_normalise_by_length() -> None:
    encoder = SparseEncoder(k1=1.2, b=0.75, avg_len=10)
    once = encoder.encode_document("qdrant")
    thrice = encoder.encode_document("qdrant qdrant qdrant")
    assert once.indices == thrice.indices
    assert once.values[0] < thrice.values[0] < 2.2  # saturates below k1 + 1
    long_doc = encoder.encode_document("qdrant " + "filler " * 50)
    index = long_doc.indices.index(once.indices[0])
    assert long_doc.values[index] < once.values[0]


def test_query_counts_terms() -> None:
    vector = SparseEncoder().encode_query("vector vector search")
    assert sorted(vector.values) == [1.0, 2.0]
    assert SparseEncoder().encode_query("the and of").indices == []


def test_terms_are_nfkc_normalised_and_case_folded() -> None:
    encoder = SparseEncoder()
    composed = encoder.terms("Café ﬁne STRASSE")
    assert encoder.terms(unicodedata.normalize("NFD", "Café ﬁne STRASSE")) == composed
    assert encoder.terms("ＣＡＦÉ fine straße") == composed
