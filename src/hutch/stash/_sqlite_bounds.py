"""Size limits of a :class:`~hutch.SqliteStash` table: items, bytes, eviction.

A bounded table keeps, beside each row, when it was last used (a ``used``
column, nanoseconds since the epoch), and in a side table one row with the
table's item count and byte total.  Triggers on the table keep that row
right whoever writes -- a bounded stash, an unbounded one on the same file,
another process -- so checking the limits is one read, not a scan.

The limits are enforced on write: a write stores its row, then, in the same
transaction, deletes the rows used longest ago (least recently used, or
first written for ``'fifo'``) until the table is within both limits.  A
read writes nothing: the stash notes in memory which keys were read, and
stamps their use with its next write (or on :meth:`close`), so a hit on a
bounded stash costs what a hit on an unbounded one costs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Optional

__all__ = ['Bounds', 'POLICIES']

#: eviction policies: which rows go first when a table is over its limits
POLICIES = ('lru', 'fifo')

SQL_COLUMNS = 'PRAGMA table_info("{table}")'
SQL_ADD_USED = ('ALTER TABLE "{table}" '
                'ADD COLUMN used INTEGER NOT NULL DEFAULT 0')
SQL_USED_INDEX = ('CREATE INDEX IF NOT EXISTS "{table}__used" '
                  'ON "{table}" (used)')
SQL_SIZE_TABLE = ('CREATE TABLE IF NOT EXISTS "{table}__size" '
                  '(id INTEGER PRIMARY KEY CHECK (id = 0), '
                  'items INTEGER NOT NULL, bytes INTEGER NOT NULL)')
SQL_SIZE_FILL = ('INSERT OR IGNORE INTO "{table}__size" (id, items, bytes) '
                 'SELECT 0, COUNT(*), COALESCE(SUM(length(value)), 0) '
                 'FROM "{table}"')
SQL_TRIGGERS = (
    'CREATE TRIGGER IF NOT EXISTS "{table}__insert" AFTER INSERT ON "{table}" '
    'BEGIN UPDATE "{table}__size" SET items = items + 1, '
    'bytes = bytes + length(NEW.value); END',
    'CREATE TRIGGER IF NOT EXISTS "{table}__delete" AFTER DELETE ON "{table}" '
    'BEGIN UPDATE "{table}__size" SET items = items - 1, '
    'bytes = bytes - length(OLD.value); END',
    'CREATE TRIGGER IF NOT EXISTS "{table}__update" '
    'AFTER UPDATE OF value ON "{table}" '
    'BEGIN UPDATE "{table}__size" '
    'SET bytes = bytes + length(NEW.value) - length(OLD.value); END',
)
SQL_UPSERT_USED = ('INSERT INTO "{table}" (key, value, used) VALUES (?, ?, ?) '
                   'ON CONFLICT (key) DO UPDATE SET value = excluded.value, '
                   'used = excluded.used')
SQL_TOUCH = 'UPDATE "{table}" SET used = ? WHERE key = ?'
SQL_SIZE = 'SELECT items, bytes FROM "{table}__size"'
SQL_OLDEST = ('SELECT key, length(value) FROM "{table}" '
              'ORDER BY used, key LIMIT ? OFFSET ?')
SQL_DELETE = 'DELETE FROM "{table}" WHERE key = ?'

#: rows read per query while choosing what to evict
_EVICT_PAGE = 64


def check_limit(name: str, value: Optional[int]) -> Optional[int]:
    """``value`` if it is a positive int or ``None``, else a clear error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int or None, got {value!r}')
    if value < 1:
        raise ValueError(f'{name} must be positive, got {value}')
    return value


class Bounds:
    """The limits of one table and the SQL that keeps it within them."""

    def __init__(self, table: str, max_items: Optional[int],
                 max_bytes: Optional[int], policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f'policy must be one of {POLICIES}, got {policy!r}')
        self.max_items = check_limit('max_items', max_items)
        self.max_bytes = check_limit('max_bytes', max_bytes)
        self.policy = policy

        def sql(template: str) -> str:
            return template.replace('{table}', table)

        self._columns = sql(SQL_COLUMNS)
        self._setup = [sql(SQL_USED_INDEX), sql(SQL_SIZE_TABLE),
                       sql(SQL_SIZE_FILL)] + [sql(t) for t in SQL_TRIGGERS]
        self._add_used = sql(SQL_ADD_USED)
        self.upsert = sql(SQL_UPSERT_USED)
        self._touch = sql(SQL_TOUCH)
        self._size = sql(SQL_SIZE)
        self._oldest = sql(SQL_OLDEST)
        self._delete = sql(SQL_DELETE)

    def configure(self, conn: sqlite3.Connection) -> None:
        """Give the table its ``used`` column, size row and triggers (once
        per file; the caller holds a write transaction)."""
        columns = {row[1] for row in conn.execute(self._columns)}
        if 'used' not in columns:
            conn.execute(self._add_used)
        for statement in self._setup:
            conn.execute(statement)

    def check_size(self, key: str, size: int) -> None:
        """Refuse a value that could never fit."""
        if self.max_bytes is not None and size > self.max_bytes:
            raise ValueError(f'a value of {size} bytes for key {key!r} '
                             f'exceeds max_bytes={self.max_bytes}')

    def touch(self, conn: sqlite3.Connection,
              used: Iterable[tuple[int, str]]) -> None:
        """Stamp the last use of keys read since the last write."""
        conn.executemany(self._touch, used)

    def evict(self, conn: sqlite3.Connection, keep: set[str]) -> int:
        """Delete the rows used longest ago (never those in ``keep``) until
        the table is within its limits; the number deleted."""
        items, size = conn.execute(self._size).fetchone()
        max_items, max_bytes = self.max_items, self.max_bytes

        def over() -> bool:
            return ((max_items is not None and items > max_items)
                    or (max_bytes is not None and size > max_bytes))

        doomed: list[tuple[str]] = []
        offset = 0
        while over():
            rows = conn.execute(self._oldest, (_EVICT_PAGE, offset)).fetchall()
            if not rows:
                break  # only rows that must stay are left
            offset += len(rows)
            for key, length in rows:
                if not over():
                    break
                if key not in keep:
                    doomed.append((key,))
                    items, size = items - 1, size - (length or 0)
        conn.executemany(self._delete, doomed)
        return len(doomed)
