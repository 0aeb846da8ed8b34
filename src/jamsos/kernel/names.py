"""Names as four eyes compares them: the maker and the checker of a billing run, the branch that asks for a
transfer and the one that decides it must be two people, and a look-alike spelling must not pass for another."""

from __future__ import annotations

import unicodedata


def person_key(name: str) -> str:
    """Unicode compatibility forms folded (full-width letters, ligatures), case and spacing ignored."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def same_person(a: str, b: str) -> bool:
    return person_key(a) == person_key(b)
