"""Keyset pagination shared by every list endpoint: newest first, `cursor` = last id seen.

Ids are prefixed and sortable by creation time (`connector/ids.py`), so "older than the
cursor" is an index range scan whatever the list's size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session


def newest_first(session: Session, query: Select[Any], id_column: InstrumentedAttribute[str],
                 *, cursor: str | None, limit: int) -> list[Any]:
    if cursor:
        query = query.where(id_column < cursor)
    return list(session.scalars(query.order_by(id_column.desc()).limit(limit)))
