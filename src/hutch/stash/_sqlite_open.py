"""Opening a SQLite database only to read it, and reading SQLite's errors.

:func:`connect_read_only` opens a database so that nothing on disk
changes, whatever state a writer left it in; :func:`is_full` and
:func:`cannot_write` tell what an error says, so that a full disk and a
file that can't be written are reported as what they are.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ._sqlite_sql import SQL_JOURNAL_MODE

__all__ = ['connect_read_only', 'is_full', 'cannot_write']

_SQLITE_FULL = 13  # the result code for "database or disk is full"


def is_full(e: BaseException) -> bool:
    """Whether SQLite error ``e`` says the disk (or quota) is full."""
    code = getattr(e, 'sqlite_errorcode', None)  # Python 3.11+
    if code is None:
        return 'database or disk is full' in str(e)
    return bool(code == _SQLITE_FULL)


def connect_read_only(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to the database at ``path`` that never changes its data
    (statements can't write), in autocommit mode.

    * With no ``-wal`` beside it (closed cleanly), the database is opened
      as usual with ``query_only``: the ``-wal``/``-shm`` files SQLite makes
      to read it go away again on close, as for any reader.
    * With a ``-wal`` (a writer is at work, or was killed), it is opened
      ``mode=ro``, so the WAL is read but never checkpointed into the
      database or removed.
    * Where neither can work for want of write access to the folder (a
      read-only mount, another user's folder) and there is no ``-wal`` --
      so no write under way or left over -- the file is read as immutable.

    :raises sqlite3.Error: when it can't be opened
    """
    uri = Path(path).resolve().as_uri()

    def connect(query: str) -> sqlite3.Connection:
        conn = sqlite3.connect(query, uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute('PRAGMA query_only = ON')
            conn.execute(SQL_JOURNAL_MODE).fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    if os.path.lexists(f'{path}-wal'):
        return connect(f'{uri}?mode=ro')
    try:
        return connect(f'{uri}?mode=rw')
    except sqlite3.OperationalError as e:
        if not cannot_write(e):
            raise
    try:
        return connect(f'{uri}?mode=ro')
    except sqlite3.OperationalError as e:
        if not cannot_write(e) or os.path.lexists(f'{path}-wal'):
            raise
    return connect(f'{uri}?mode=ro&immutable=1')


def cannot_write(e: sqlite3.OperationalError) -> bool:
    """Whether SQLite failed for want of write access to the files."""
    text = str(e)
    return 'readonly' in text or 'unable to open' in text
