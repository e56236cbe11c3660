"""BM25 sparse vectors computed by ragfleet; Qdrant applies IDF through the ``idf`` modifier.

Documents get the BM25 term-frequency part (saturation ``k1``, length normalisation ``b`` against
``avg_len``); queries get the count of each term. With Qdrant's IDF modifier the dot product of the
two is the BM25 score, and the same vectors work in Qdrant Edge and a Qdrant server.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter

import Stemmer

from ragfleet.domain import SparseVector

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)


class SparseEncoder:
    """Stemmed, stopword-free terms hashed to 32-bit indices, weighted for BM25."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, avg_len: float = 150.0) -> None:
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        """Terms of ``text`` after NFKC normalisation and case folding, so composed and
        decomposed accents, full-width letters and ligatures give the same terms."""
        folded = unicodedata.normalize("NFKC", text).casefold()
        words = [w for w in _WORD.findall(folded) if w not in STOPWORDS and len(w) < 40]
        stems: list[str] = self._stemmer.stemWords(words)
        return stems

    @staticmethod
    def _index(term: str) -> int:
        return zlib.crc32(term.encode())

    def _vector(self, counts: Counter[int], weight: dict[int, float]) -> SparseVector:
        indices = sorted(counts)
        return SparseVector(indices, [weight[i] for i in indices])

    def encode_document(self, text: str) -> SparseVector:
        counts = Counter(self._index(t) for t in self.terms(text))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_len)
        weights = {i: tf * (self.k1 + 1) / (tf + norm) for i, tf in counts.items()}
        return self._vector(counts, weights)

    def encode_query(self, text: str) -> SparseVector:
        counts = Counter(self._index(t) for t in self.terms(text))
        return self._vector(counts, {i: float(c) for i, c in counts.items()})
