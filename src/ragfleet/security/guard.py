"""What passages may show, per collection: PII redaction and flagged-passage exclusion.

Policies (``security.pii_policy``, per collection ``security.pii_collections``):
``off`` sends and shows text as stored; ``redact-for-llm`` redacts what goes to the LLM (the
caller, who may read the document, still sees it as stored in hits and citations);
``redact-everywhere`` redacts hits, citations and extractive answers too.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from ragfleet.domain import SearchHit
from ragfleet.settings import SecuritySettings
from ragfleet.telemetry import metrics

if TYPE_CHECKING:
    from ragfleet.security.pii import PiiRedactor


class PassageGuard:
    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        for entity in dict.fromkeys(settings.pii_entities):  # series start at 0
            for where in ("llm", "reader"):
                metrics.PII_REDACTIONS.labels(entity, where)

    @cached_property
    def redactor(self) -> PiiRedactor:
        """Built on first redaction: Presidio's import pulls in spaCy and its dependencies
        (hundreds of MB and seconds), which a process that never redacts does without."""
        from ragfleet.security.pii import PiiRedactor

        return PiiRedactor(self.settings.pii_entities)

    def _redacted(self, hit: SearchHit, where: str) -> SearchHit:
        p = hit.payload
        payload = replace(
            p,
            text=self.redactor.redact(p.text, where),
            title=self.redactor.redact(p.title, where),
            section=self.redactor.redact(p.section, where),
        )
        return SearchHit(hit.score, hit.point_id, payload)

    def for_reader(self, hits: list[SearchHit]) -> list[SearchHit]:
        """Hits as the caller may see them: redacted in ``redact-everywhere`` collections."""
        policy = self.settings.pii_policy_for
        return [
            self._redacted(h, "reader")
            if policy(h.payload.collection) == "redact-everywhere"
            else h
            for h in hits
        ]

    def for_answer(self, hits: list[SearchHit]) -> list[SearchHit]:
        """The passages an answer is built from: as the reader sees them, without flagged ones
        when ``flagged_passages`` is ``exclude``."""
        if self.settings.flagged_passages == "exclude":
            kept = [h for h in hits if not h.payload.injection_suspected]
            metrics.INJECTION_EXCLUDED_PASSAGES.inc(len(hits) - len(kept))
            hits = kept
        return self.for_reader(hits)

    def for_llm(self, question: str, hits: list[SearchHit]) -> tuple[str, list[SearchHit]]:
        """The question and passages as the LLM may see them. The question is redacted when any
        passage's collection redacts (the LLM sees them together)."""
        redacts = [self.settings.pii_policy_for(h.payload.collection) != "off" for h in hits]
        passages = [
            self._redacted(h, "llm") if redact else h
            for h, redact in zip(hits, redacts, strict=True)
        ]
        if any(redacts):
            question = self.redactor.redact(question, "llm")
        return question, passages
