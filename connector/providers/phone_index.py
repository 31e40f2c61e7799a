"""A connection's phone -> contact id index, for upstreams that can't search contacts by phone.

Corbital v1 has no search (upstream-apis.md §1.5): without an index every upsert scans the
whole contact list. The index lives in the provider cache (Redis, per connection) and is only
ever a hint: a dialect verifies a hit against the upstream before trusting it, and a stale or
missing entry sends it back to the scan, which refreshes the index.

Entries, per default region (a stored national number reads differently in another region):
- `p:<hash of E.164>` -> contact id (the phone is hashed: no phone numbers in Redis keys);
- `i:<contact id>` -> hash of the phone as stored upstream, so a page of contacts can be checked
  for new or re-numbered contacts with one read, normalising only those;
- `complete`: set by a full scan that saw every contact; while it lasts, a phone found neither
  in the index nor among the newest contacts is taken as absent (no scan). It expires after
  `PHONE_INDEX_TRUST_S`, so phones of older contacts edited elsewhere are picked up by the
  next full scan at the latest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from connector.providers.base import Cache
from connector.providers.phones import InvalidPhone, normalize_phone
from connector.redis_keys import PHONE_INDEX_ENTRY_TTL_S, PHONE_INDEX_TRUST_S

Found = tuple[Mapping[str, Any], str | None]
"""An upstream contact record and its phone in E.164 (None when it doesn't read as a number)."""


@lru_cache(maxsize=65_536)
def to_e164(stored: str, region: str | None) -> str | None:
    """A stored phone in E.164, or None; cached, since scans see the same phones again."""
    try:
        return normalize_phone(stored, region)
    except InvalidPhone:
        return None


def stored_e164(phone: Any, region: str | None) -> str | None:
    if not isinstance(phone, str | int) or isinstance(phone, bool) or not str(phone).strip():
        return None
    return to_e164(str(phone), region)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class PhoneIndex:
    """The index of one connection (through its cache), for one default region."""

    def __init__(self, cache: Cache, region: str | None) -> None:
        self.cache, self.region = cache, region
        self._prefix = f"pidx:{region or '-'}:"
        self._complete_key = f"{self._prefix}complete"

    def _phone_key(self, e164: str) -> str:
        return f"{self._prefix}p:{_digest(e164)}"

    def _id_key(self, contact_id: str) -> str:
        return f"{self._prefix}i:{contact_id}"

    def lookup(self, e164: str) -> tuple[str | None, bool]:
        """The contact id last seen with this phone (a hint: verify it) or None, and whether
        the index is complete (one cache read)."""
        value, complete = self.cache.get_many([self._phone_key(e164), self._complete_key])
        return (str(value) if value is not None else None), complete is not None

    def remember(self, records: Iterable[Mapping[str, Any]]) -> list[Found]:
        """Index upstream contact records (`id` + `phone` as stored); each with its E.164."""
        found: list[Found] = []
        values: dict[str, Any] = {}
        for record in records:
            contact_id = record.get("id")
            if contact_id is None:
                continue
            phone = record.get("phone")
            e164 = stored_e164(phone, self.region)
            values[self._id_key(str(contact_id))] = _digest(str(phone))
            if e164 is not None:
                values[self._phone_key(e164)] = str(contact_id)
            found.append((record, e164))
        self.cache.set_many(values, PHONE_INDEX_ENTRY_TTL_S)
        return found

    def learn(self, records: list[Mapping[str, Any]]) -> tuple[list[Found], int]:
        """Index only the records that are new to the index or whose stored phone changed.

        Returns those records with their E.164, and how many records were already known as
        they are. One cache read for the page; only new phones are normalised.
        """
        keyed = [r for r in records if r.get("id") is not None]
        stamps = self.cache.get_many([self._id_key(str(r["id"])) for r in keyed])
        changed = [r for r, stamp in zip(keyed, stamps, strict=True)
                   if stamp != _digest(str(r.get("phone")))]
        return self.remember(changed), len(keyed) - len(changed)

    def forget(self, e164: str) -> None:
        """Drop a phone's entry (its contact is gone or has another phone now)."""
        self.cache.delete(self._phone_key(e164))

    def mark_complete(self) -> None:
        self.cache.set(self._complete_key, 1, PHONE_INDEX_TRUST_S)
