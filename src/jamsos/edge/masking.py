"""What a role that does not serve individual cases (head office, Kanwil) may see of a record: an allow-list per
kind of record, one semantics for the API, the web app and the command line. A field not on the list is left
out, so a field added to a record later is hidden until someone decides it may be shown."""

from __future__ import annotations

import re
from typing import Any, Literal

from jamsos.auth import domain as authz

Shown = Literal["clear", "nik", "name", "text"]
# Per kind of record: field -> how it is shown to a masked role ("nik": 8271********0001, "name": B*** S******,
# "text": NIK-like numbers inside masked, "clear": as it is), or the kind of the records in a nested list.
VIEWS: dict[str, dict[str, Shown | tuple[str]]] = {
    "worker": {
        "nik": "nik", "kpj": "clear", "va_number": "clear", "name": "name", "sex": "clear",
        "regency_code": "clear", "valid_from": "clear", "valid_to": "clear", "recorded_at": "clear",
        "memberships": ("membership",),
    },
    "membership": {"id": "clear", "segment": "clear", "npp": "clear", "project": "clear"},
    "search": {"kind": "clear", "nik": "nik", "kpj": "clear", "npp": "clear", "name": "name", "regency_code": "clear"},
    "employer_hit": {"kind": "clear", "npp": "clear", "name": "clear", "regency_code": "clear"},
    "duplicate": {"reason": "clear", "nik_a": "nik", "nik_b": "nik", "name_a": "name", "name_b": "name"},
    "exception": {
        "membership_id": "clear", "project_id": "clear", "code": "clear", "message": "text", "nik": "nik",
        "npp": "clear",
    },
}  # fmt: skip

_NIK_LIKE = re.compile(r"(?<!\d)(\d{4})\d{8}(\d{4})(?!\d)")


def mask_niks(text: str) -> str:
    """Every NIK-like number in ``text`` masked as on the screens (``8271********0001``)."""
    return _NIK_LIKE.sub(r"\1********\2", text)


def redact(kind: str, record: dict[str, Any], who: authz.Principal) -> dict[str, Any]:
    """``record`` as ``who`` may see it: whole for the roles that serve individual cases, else by ``VIEWS``."""
    if who.unmasked:
        return record
    return _apply(kind, record)


def _apply(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    view = VIEWS[kind]
    out: dict[str, Any] = {}
    for key, how in view.items():
        if key not in record:
            continue
        value = record[key]
        if isinstance(how, tuple):
            out[key] = [_apply(how[0], v) for v in value or []]
        elif value is None or how == "clear":
            out[key] = value
        elif how == "nik":
            out[key] = authz.mask_nik(str(value))
        elif how == "name":
            out[key] = authz.mask_name(str(value))
        else:
            out[key] = mask_niks(str(value))
    return out


def redact_all(kind: str, records: list[dict[str, Any]], who: authz.Principal) -> list[dict[str, Any]]:
    return [redact(kind, r, who) for r in records]


def redact_hits(hits: list[dict[str, Any]], who: authz.Principal) -> list[dict[str, Any]]:
    """Search results: workers and employers (an employer's name is not personal data)."""
    return [redact("search" if h.get("kind") == "worker" else "employer_hit", h, who) for h in hits]
