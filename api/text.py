"""Rules for text and numbers that come from outside: what the API accepts before the
database sees it. The database holds the same text rules (iam.is_visible_text, migration
0003), so direct SQL cannot bypass them.

- Emails and names are NFC-normalised, so NFD twins of one address are one account.
- Control (Cc), format (Cf: zero-width, bidirectional overrides, soft hyphen) and line or
  paragraph separator (Zl, Zp) characters are refused: text must show what it says.
- Integers and UUIDs are ASCII only: `int()` and `uuid.UUID()` also take other scripts'
  digits, `_`, spaces, braces and URN prefixes.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

import idna

# Unicode 15.1's Cc, Cf, Zl and Zp, spelled out rather than read from unicodedata so that
# Python (whatever its Unicode version) and iam.is_visible_text agree on every character.
_INVISIBLE_RANGES = (
    "\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_INVISIBLE = re.compile(f"[\x00-\x1f{_INVISIBLE_RANGES}]")
# Descriptions may span lines: tab, line feed and carriage return are allowed there.
_INVISIBLE_BESIDES_LINE_BREAKS = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_INVISIBLE_RANGES}]")
_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def has_invisible(value: str, *, line_breaks: bool = False) -> bool:
    """Whether the text holds a character that does not show as itself."""
    pattern = _INVISIBLE_BESIDES_LINE_BREAKS if line_breaks else _INVISIBLE
    return pattern.search(value) is not None


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def normalize_email(value: str) -> str:
    """The one spelling of an address that is stored and looked up, so that one address is one
    account: trimmed; compatibility forms folded and lower-cased (NFKC: the fullwidth letters
    U+FF41 to U+FF5A are a to z); the domain in its IDNA A-label form (`münchen.example` and
    `xn--mnchen-3ya.example` are one domain). A domain that is not a valid IDNA name is kept
    as written, lower-cased, for the address check to refuse or keep."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value.strip()).lower())
    local, at, domain = folded.rpartition("@")
    if not at or not domain:
        return folded
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return folded
    return f"{local}@{ascii_domain}"


def ascii_int(text: str) -> int | None:
    """The value of a whole number written in ASCII digits (at most 18 of them), else None."""
    return int(text) if _ASCII_DIGITS.fullmatch(text) else None


def ascii_uuid(text: str) -> uuid.UUID | None:
    """A UUID in its canonical 8-4-4-4-12 hexadecimal form, else None."""
    return uuid.UUID(text) if _CANONICAL_UUID.fullmatch(text) else None
