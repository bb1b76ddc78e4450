"""The check of a :class:`~hutch.stash.sqlite.SqliteStash`: its database
and the side folder of its large values (see :mod:`hutch.stash._side`).

The database first: SQLite's own ``quick_check``.  When that fails, nothing
else is trusted; the rows are counted if they still can be (else the count
is unknown, never a false 0).

Then the side folder, against the rows that name its files:

* a temporary file (of a writer killed mid-write) untouched for
  :data:`~hutch.stash.check.STALE_AFTER` seconds is stale;
* a side file no row names, as old, is an *orphan*: the file of a writer
  killed before its commit, or of a row replaced or deleted whose file
  stayed;
* a row whose file is gone, or is a folder, a FIFO or a link instead of a
  regular file, is reported with its key -- found from names alone, so
  without ``values`` too -- and never read (a FIFO would block a read).

``fix`` removes stale temporary files and orphans, and only those (never a
row, never a file a row names).  What makes that safe: a writer writes a
side file while it holds the database's write lock and commits the row that
names it before letting go, so under that lock no unnamed file can be a
write about to commit.  ``fix`` takes the lock (``BEGIN IMMEDIATE``) for
the whole look, and on top of it still spares files younger than the grace
period.  Without ``fix`` no lock is taken and nothing changes; a young
unnamed file is not reported, since its row may be committing right now.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Optional, Protocol

from .._files import is_temp_name
from ..errors import PersistableError
from ._side import SideFiles
from .check import (
    DATABASE,
    MISSING_FILE,
    NOT_A_FILE,
    ORPHAN,
    STALE_TEMP,
    CheckReport,
    Problem,
    Readable,
    check_values,
    entries,
    in_progress,
    removed,
)

__all__ = ['check_database']


class Database(Readable, Protocol):
    """What the check needs of a :class:`~hutch.stash.sqlite.SqliteStash`."""

    @property
    def path(self) -> Path: ...

    @property
    def table(self) -> str: ...

    @property
    def read_only(self) -> bool: ...

    _side: SideFiles

    def __len__(self) -> int: ...

    def _connection(self) -> sqlite3.Connection: ...

    def _error(self, what: str, e: BaseException,
               key: Optional[str] = None) -> PersistableError: ...

SQL_QUICK_CHECK = 'PRAGMA quick_check'
SQL_SIDE_ROWS = ('SELECT key, value FROM "{table}" '
                 "WHERE typeof(value) = 'text'")
SQL_ROW = 'SELECT value FROM "{table}" WHERE key = ?'


def check_database(stash: Database, fix: bool,
                   values: bool) -> CheckReport:
    """What :meth:`SqliteStash.check <hutch.SqliteStash.check>` reports."""
    report = CheckReport(type(stash).__name__)
    if not stash.path.exists():
        return report
    if fix and stash.read_only:
        raise PersistableError('cannot fix a read-only stash: open it '
                               'writable to remove what check finds',
                               path=stash.path)
    conn = stash._connection()
    try:
        rows = conn.execute(SQL_QUICK_CHECK).fetchall()
    except sqlite3.Error as e:
        rows = [(str(e),)]
    report.problems.extend(Problem(DATABASE, str(stash.path), None, row[0])
                           for row in rows if row[0] != 'ok')
    if report.problems:
        report.items = _count(stash)
        return report
    if stash._side.exists():
        try:
            _check_side(stash, conn, report, fix)
        except sqlite3.Error as e:
            raise stash._error('check side files', e) from e
    check_values(stash, report, values)
    return report


def _count(stash: Database) -> Optional[int]:
    """The number of rows of a damaged database, if it can be counted."""
    try:
        return len(stash)
    except PersistableError:
        return None


def _check_side(stash: Database, conn: sqlite3.Connection,
                report: CheckReport, fix: bool) -> None:
    """Report what in the side folder is not a row's value, and the rows
    whose file is not sound; with ``fix`` (holding the write lock) remove
    stale temporary files and orphans."""
    if fix:
        conn.execute('BEGIN IMMEDIATE')
    try:
        # the folder before the rows: a file whose row commits in between
        # is then named, never taken for an orphan
        listed = sorted(entries(stash._side._dir), key=lambda e: e.name)
        named = {name: key for key, name in conn.execute(
            SQL_SIDE_ROWS.replace('{table}', stash.table)).fetchall()}
        now = time.time()
        for entry in listed:
            problem = _look_at(entry, named, now)
            if problem is not None:
                report.problems.append(
                    removed(problem) if fix and problem.kind in
                    (STALE_TEMP, ORPHAN) else problem)
        seen = {entry.name for entry in listed}
        for name, key in named.items():
            if name not in seen:
                problem = _missing(stash, conn, key, name, locked=fix)
                if problem is not None:
                    report.problems.append(problem)
    finally:
        if conn.in_transaction:
            conn.execute('COMMIT')  # nothing was written: it lets go


def _look_at(entry: os.DirEntry[str], named: dict[str, str],
             now: float) -> Optional[Problem]:
    """The problem of one entry of the side folder, if it has one."""
    info = entry.stat(follow_symlinks=False)
    if is_temp_name(entry.name):
        return None if in_progress(info, now) else \
            Problem(STALE_TEMP, entry.path)
    key = named.get(entry.name)
    if key is not None:
        if stat.S_ISREG(info.st_mode):
            return None
        return Problem(NOT_A_FILE, entry.path, key)
    if not entry.name.endswith('.value') or in_progress(info, now):
        return None  # not a side file, or one whose row may be committing
    return Problem(ORPHAN, entry.path, None, 'no row names it')


def _missing(stash: Database, conn: sqlite3.Connection, key: str,
             name: str, locked: bool) -> Optional[Problem]:
    """The problem of row ``key``, which names side file ``name`` that the
    folder did not list; ``None`` when, looked at again, all is well (a
    writer replaced the row and its file in between)."""
    try:
        path = stash._side.path_of(name)
    except ValueError:
        return Problem(MISSING_FILE, stash._side._dir, key,
                       f'the row names no side file: {name[:100]!r}')
    if not locked:
        row = conn.execute(SQL_ROW.replace('{table}', stash.table),
                           (key,)).fetchone()
        if row is None or row[0] != name or os.path.lexists(path):
            return None
    return Problem(MISSING_FILE, path, key)
