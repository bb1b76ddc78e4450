"""Rows a thread has read from SQLite, kept until anyone commits.

A read from a SQLite database in WAL mode pays, besides the lookup, for two
file-lock system calls: it takes and drops a read lock on a byte of the
``-shm`` file (the *WAL index*) so that no checkpoint rewrites pages while
it reads them.  A row read a second time needs neither lock if nothing was
committed in between, because every commit -- by any connection of any
process on this host -- rewrites the header at the start of the WAL index
(a change counter, the size of the log and its salts), and so does every
restart of the log.

:class:`RowCache` keeps the rows one thread read, tagged with the header it
read *before* looking them up.  A later read first reads the header again
(one ``pread``, no lock): while it is the same, nothing was committed since
the rows were looked up, so each kept row is what SQLite would return now;
once it differs, every kept row is dropped.  A header read while a writer
is publishing a new one (its two copies differ), or one this module does
not recognise, keeps nothing.  Reads inside a transaction of the thread's
own connection, which may see its uncommitted writes, bypass the rows.

A thread that keeps no row and whose last lookup found nothing does not
read the header at all: a run of lookups of absent keys (a memoized function
meeting new arguments, each miss followed by a write) pays what it would
without the cache.  The first row found after such a run is not kept; it is
kept when read again, and from then on the header is read before each read.

The header is read through the descriptor SQLite itself holds open on the
``-shm`` file (found under ``/proc/self/fd``), never through a descriptor
of hutch's own: closing any descriptor of a file drops every POSIX lock the
process holds on it, SQLite's included.  Where there is no ``/proc`` (not
Linux) the rows are not kept and every read asks SQLite.

>>> import os, sqlite3, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), 'rows.sqlite3')
>>> conn = sqlite3.connect(path, isolation_level=None)
>>> conn.execute('PRAGMA journal_mode = WAL').fetchone()
('wal',)
>>> conn.execute('CREATE TABLE t (key TEXT PRIMARY KEY, value BLOB)').close()
>>> rows = RowCache.attach(conn, path, 1 << 20)
>>> rows.find('a') is None             # nothing kept yet: ask SQLite
True
>>> rows.keep('a', b'one')
>>> rows.find('a')                     # nothing committed since
b'one'
>>> conn.execute("INSERT INTO t VALUES ('b', x'00')").close()
>>> rows.find('a') is None             # a commit: ask SQLite again
True
"""

from __future__ import annotations

import os
import sqlite3
import struct
from typing import Optional

__all__ = ['RowCache', 'shm_descriptor', 'is_header', 'HEADER_BYTES']

#: the WAL index header: two copies of a 48-byte structure, which a writer
#: publishes second copy first, so equal copies are a finished header
HEADER_BYTES = 96
_COPY = HEADER_BYTES // 2
#: the layout version every WAL index header has held since SQLite 3.7.0
_VERSION = 3007000
#: the header's version (native byte order) and its "initialised" flag
_HEAD = struct.Struct('=I8xB')

#: what a kept row costs beyond its bytes (key, dict slot), counted so that
#: many tiny rows can't outgrow the limit
_ROW_OVERHEAD = 100

_pread = os.pread


def shm_descriptor(path: str | os.PathLike[str]) -> Optional[int]:
    """The descriptor through which this process holds open the ``-shm``
    file of the database at ``path``, or ``None`` (no such file open, or
    no ``/proc/self/fd`` to look in).

    SQLite opens the file next to the database's real path (symbolic links
    resolved); the descriptor is the one whose file is that file.
    """
    try:
        want = os.stat(f'{os.path.realpath(path)}-shm')
        names = os.listdir('/proc/self/fd')
    except OSError:
        return None
    for name in names:
        try:
            st = os.stat(f'/proc/self/fd/{name}')
        except OSError:  # closed meanwhile, or the listing's own descriptor
            continue
        if st.st_ino == want.st_ino and st.st_dev == want.st_dev:
            return int(name)
    return None


def is_header(head: bytes) -> bool:
    """Whether ``head`` is a finished WAL index header of a known layout.

    >>> is_header(bytes(96))
    False
    """
    if len(head) != HEADER_BYTES or head[:_COPY] != head[_COPY:]:
        return False
    version, initialised = _HEAD.unpack_from(head)
    return bool(version == _VERSION and initialised == 1)


class RowCache:
    """The rows one thread read through ``conn``, valid while the WAL index
    header is the one read before they were looked up.

    :param conn: the thread's connection (in WAL mode)
    :param fd: the descriptor of the database's ``-shm`` file, held by
        SQLite (see :func:`shm_descriptor`)
    :param limit: how many bytes of rows to keep at most; once full, rows
        read later are not kept until the next commit empties it
    """

    __slots__ = ('conn', 'fd', 'limit', 'seen', 'rows', 'room', 'fresh',
                 'watch')

    def __init__(self, conn: sqlite3.Connection, fd: int, limit: int) -> None:
        self.conn = conn
        self.fd = fd
        self.limit = limit
        #: the header the kept rows were looked up under (None: keep none)
        self.seen: Optional[bytes] = None
        self.rows: dict[str, bytes] = {}
        self.room = limit
        #: whether the last :meth:`find` found the header unchanged, outside
        #: a transaction: the row it then looks up may be kept
        self.fresh = False
        #: whether the header is read while no row is kept: after a lookup
        #: that found a row, not after one that found nothing
        self.watch = True

    @classmethod
    def attach(cls, conn: sqlite3.Connection, path: str | os.PathLike[str],
               limit: int) -> Optional[RowCache]:
        """A cache for ``conn``, a connection in WAL mode to the database
        at ``path`` that has read from it, or ``None`` where rows can't be
        kept (``limit`` 0, or no ``-shm`` descriptor to read)."""
        if limit <= 0:
            return None
        fd = shm_descriptor(path)
        return None if fd is None else cls(conn, fd, limit)

    def find(self, key: str) -> Optional[bytes]:
        """The kept row of ``key`` when nothing was committed since it was
        looked up, else ``None`` (then SQLite is asked, and :meth:`keep`
        told what it answered)."""
        if not self.rows and not self.watch:
            # nothing kept, and the last lookup found nothing: ask SQLite
            # without reading the header, keeping nothing (see the module)
            self.fresh = False
            return None
        self.watch = False  # until a lookup finds a row (see keep)
        try:
            head = _pread(self.fd, HEADER_BYTES, 0)
        except OSError:  # SQLite closed its descriptor: keep nothing
            head = b''
        if head == self.seen:
            if self.conn.in_transaction:
                self.fresh = False
                return None
            self.fresh = True
            return self.rows.get(key)
        if self.rows:
            self.rows = {}
            self.room = self.limit
        self.seen = head if is_header(head) else None
        self.fresh = self.seen is not None and not self.conn.in_transaction
        return None

    def keep(self, key: str, data: bytes) -> None:
        """Keep the row ``data`` of ``key``, which SQLite answered right
        after the last :meth:`find`, if that found the header settled."""
        self.watch = True
        if self.fresh:
            cost = len(data) + len(key) + _ROW_OVERHEAD
            if cost <= self.room:
                self.rows[key] = data
                self.room -= cost
