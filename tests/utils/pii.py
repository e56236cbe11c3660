"""Generated PII of every type ragfleet redacts: valid checksums, seeded so runs repeat."""

from __future__ import annotations

import random
import string

import phonenumbers


def luhn_digit(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    """A Visa number that passes the Luhn check, grouped by four as people write it."""
    body = "4" + "".join(rng.choice(string.digits) for _ in range(14))
    number = body + luhn_digit(body)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def ssn(rng: random.Random) -> str:
    """A US SSN in a valid area, group and serial."""
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def iban(rng: random.Random) -> str:
    """A German IBAN with a correct ISO 7064 check, grouped by four."""
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    numeric = int(bban + "131400")  # D=13, E=14, check digits 00
    check = 98 - numeric % 97
    raw = f"DE{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def phone(rng: random.Random) -> str:
    """A valid US number in international format."""
    while True:
        number = phonenumbers.parse(f"+1 212 {rng.randint(200, 999)} {rng.randint(0, 9999):04d}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def email(rng: random.Random) -> str:
    user = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    return f"{user}.{rng.randint(10, 99)}@example-{rng.randint(100, 999)}.com"


def ip(rng: random.Random) -> str:
    return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


GENERATORS = {
    "EMAIL_ADDRESS": email,
    "CREDIT_CARD": card,
    "US_SSN": ssn,
    "IBAN_CODE": iban,
    "PHONE_NUMBER": phone,
    "IP_ADDRESS": ip,
}


def generate(seed: int) -> dict[str, str]:
    """One value of every type."""
    rng = random.Random(seed)
    return {entity: make(rng) for entity, make in GENERATORS.items()}


def pii_document(values: dict[str, str]) -> str:
    """A Markdown document quoting every value in ordinary sentences about installing."""
    return (
        "# Support contacts\n\n"
        "## Install help\n\n"
        f"To install ragfleet with pip on Linux, write to {values['EMAIL_ADDRESS']} "
        f"or call {values['PHONE_NUMBER']} for help.\n\n"
        f"The install licence was paid with card {values['CREDIT_CARD']} from account "
        f"{values['IBAN_CODE']}.\n\n"
        f"The install server is at {values['IP_ADDRESS']} and the owner's SSN is "
        f"{values['US_SSN']}.\n"
    )


def leaked(values: dict[str, str], text: str) -> list[str]:
    """The values (or their digits without separators) that appear in ``text``."""
    compact = text.replace(" ", "").replace("-", "")
    return [
        entity
        for entity, value in values.items()
        if value in text or value.replace(" ", "").replace("-", "") in compact
    ]
