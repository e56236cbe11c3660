"""PII detection and redaction with Presidio's pattern recognizers.

Only recognizers that need no NLP model are used (regular expressions with checksums, context
words or libphonenumber), so redaction works offline and starts fast. Each found value is
replaced by its type in angle brackets (``<EMAIL_ADDRESS>``), which keeps sentences readable for
the LLM and for people.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import RecognizerResult as Span

from ragfleet.telemetry import metrics

# Presidio scores weak patterns (any 9-digit number as an SSN) at 0.05; keep medium and up.
MIN_SCORE = 0.3
# Public-suffix lookups from the snapshot bundled with tldextract, never over the network.
_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating the domain without fetching the suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


# Seven digits, separators allowed between them: the least any phone number has.
_PHONE_LIKE = re.compile(r"\d(?:[\s().+/-]{0,3}\d){6}")


class _PrefilteredPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer (libphonenumber, per region: the slow one), run only on text
    that holds a run of seven digits."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> Any:
        if not _PHONE_LIKE.search(text):
            return []
        return super().analyze(text, entities, nlp_artifacts)


RECOGNIZERS: dict[str, type[Any]] = {
    "EMAIL_ADDRESS": _OfflineEmailRecognizer,
    "CREDIT_CARD": CreditCardRecognizer,
    "US_SSN": UsSsnRecognizer,
    "IBAN_CODE": IbanRecognizer,
    "PHONE_NUMBER": _PrefilteredPhoneRecognizer,
    "IP_ADDRESS": IpRecognizer,
}


class PiiRedactor:
    """Finds and replaces the configured PII types; thread-safe (recognizers keep no state)."""

    def __init__(self, entities: Sequence[str]) -> None:
        unknown = set(entities) - set(RECOGNIZERS)
        if unknown:
            raise ValueError(f"unsupported PII types: {', '.join(sorted(unknown))}")
        self.entities = list(dict.fromkeys(entities))
        self._recognizers: list[Any] = [RECOGNIZERS[name]() for name in self.entities]
        self._anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def find(self, text: str) -> list[RecognizerResult]:
        """The PII spans of ``text`` at or above ``MIN_SCORE``, overlaps resolved."""
        found: list[RecognizerResult] = []
        for recognizer in self._recognizers:
            results = recognizer.analyze(text, recognizer.supported_entities, None)
            found += [r for r in results or () if r.score >= MIN_SCORE]
        deduplicated: list[RecognizerResult] = EntityRecognizer.remove_duplicates(found)
        return deduplicated

    def redact(self, text: str, where: str) -> str:
        """``text`` with every PII value replaced by ``<TYPE>``; counted per type and ``where``
        (``llm`` or ``reader``)."""
        found = self.find(text)
        if not found:
            return text
        for result in found:
            metrics.PII_REDACTIONS.labels(result.entity_type, where).inc()
        spans = [Span(r.entity_type, r.start, r.end, r.score) for r in found]
        redacted: str = self._anonymizer.anonymize(text=text, analyzer_results=spans).text
        return redacted
