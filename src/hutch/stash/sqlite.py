"""A stash in one SQLite table: the fast embedded default for many small items.

:class:`SqliteStash` keeps each item as one row (``key TEXT PRIMARY KEY,
value BLOB``) of a table in a SQLite database file.  It is the right choice
for many small items: one file instead of one per key, a write is one short
transaction, and counting or listing keys never reads a value.

What it guarantees:

* **Durable, atomic writes.**  The database runs in WAL mode with
  ``synchronous=NORMAL``: a committed write survives a crash of the process
  (a power cut may lose the last few commits, never corrupt the file).
* **Threads and processes.**  Each thread of each process gets its own
  connection (a forked child opens fresh ones), so a stash can be shared by
  threads and handed to worker processes (it pickles by path).  Concurrent
  writers on one machine wait for each other (up to ``timeout`` seconds)
  instead of failing.
* **Large values beside the table.**  A value of 1 MiB or more, or one
  holding large buffers (numpy arrays ...), is written to a file of its
  own in ``<database>.large/<table>/`` (see :mod:`hutch.stash._side`) and
  its row names that file, so it is read at the speed of a file (or
  memory-mapped, with ``mmap=True``) while the table stays small and
  ``len()``, ``keys()`` and small values stay as fast.  The file is
  complete before its row commits; the file of a replaced value is removed
  by the next large dump, ``delete()`` or ``clear()``.
* **Repeated reads without a query.**  Each thread keeps the small rows it
  read (up to ``read_cache`` bytes) and answers a read of the same key
  from them -- with no query and no lock -- for as long as no connection
  of any process has committed to the database since; one commit anywhere
  drops them (see :mod:`hutch.stash._sqlite_rows`).  A read never returns
  what SQLite would not return at that moment.
* **Clear errors.**  Every SQLite error is raised as a
  :class:`~hutch.PersistableError` naming the file (and the key); a value
  that cannot be deserialized raises :class:`~hutch.CorruptDataError`.

SQLite's locking relies on the file system: **do not put the database on a
network file system** (NFS, SMB); use it on a local disk.

>>> import os, tempfile
>>> s = SqliteStash(os.path.join(tempfile.mkdtemp(), 'cache.sqlite3'))
>>> s.dump('a', [1, 2]); s.dump_many([('b', None), ('c', 'three')])
>>> s['a'], len(s), sorted(s.keys()), 'b' in s
([1, 2], 3, ['a', 'b', 'c'], True)
>>> s.load_many(['c', 'zz', 'a'])
{'c': 'three', 'a': [1, 2]}
>>> s.close()
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Optional, Union

from .. import _process
from .._files import check_path
from .._keys import key_type_error, unencodable_key_error
from .._layout import Chunk
from ..errors import (
    CorruptDataError,
    DiskFullError,
    ForeignFileError,
    PersistableError,
    deserialize_error,
    serialize_error,
)
from ..serial import SerializerSpec, get_serializer
from ..util import MISSING, check_int, check_seconds, chunks
from ._side import SideFiles, is_large, side_folder
from ._sqlite_bounds import Bounds
from ._sqlite_check import check_database
from ._sqlite_open import cannot_write, connect_read_only, is_full
from ._sqlite_rows import RowCache
from ._sqlite_sql import (
    SQL_CHECKPOINT,
    SQL_CLEAR,
    SQL_COUNT,
    SQL_CREATE,
    SQL_DELETE,
    SQL_EXISTS,
    SQL_ITEMS_AFTER,
    SQL_ITEMS_FIRST,
    SQL_JOURNAL_MODE,
    SQL_KEYS_AFTER,
    SQL_KEYS_FIRST,
    SQL_MMAP,
    SQL_NO_WAIT,
    SQL_ON_DELETE,
    SQL_ON_REPLACE,
    SQL_ORPHANS,
    SQL_SELECT,
    SQL_SELECT_MANY,
    SQL_SIDE_NAMES,
    SQL_SYNCHRONOUS,
    SQL_TAKE_ORPHANS,
    SQL_UPSERT,
    SQL_WAL,
)
from .base import CloseableStash, _PicklesByArguments
from .check import CheckReport

__all__ = ['SqliteStash', 'connect_read_only']

logger = logging.getLogger(__name__)

#: the bytes of rows a thread keeps by default (see ``read_cache``)
READ_CACHE = 8 << 20

_TABLE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')

#: keys read since the last write of a bounded stash that are remembered
#: before their use is written on its own (a write per this many hits)
_TOUCH_PENDING = 100_000

#: keys fetched per query when iterating keys, and per ``IN (...)`` query in
#: :meth:`SqliteStash.load_many` (below SQLite's smallest variable limit)
_PAGE = 500

# Connections inherited through fork() are never used or closed in the child
# (closing them there could disturb the parent's locks); they are kept here
# so they are never finalized either.
_inherited: list[sqlite3.Connection] = []


class _Local(threading.local):
    conn: Optional[sqlite3.Connection] = None
    cursor: Optional[sqlite3.Cursor] = None
    rows: Optional[RowCache] = None
    pid: int = -1
    epoch: int = -1


class SqliteKeys(Collection[str]):
    """The keys of a :class:`SqliteStash`: iterable, sized and searchable.

    Iteration is in key order and reads the keys a page at a time in short
    queries, so it holds no transaction open between pages and never reads
    a value; :func:`len` is one ``COUNT(*)``.
    """

    def __init__(self, stash: SqliteStash) -> None:
        self._stash = stash

    def __iter__(self) -> Iterator[str]:
        return self._stash._iter_keys()

    def __len__(self) -> int:
        return len(self._stash)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._stash.exists(key)

    def __repr__(self) -> str:
        return f'SqliteKeys({self._stash.path})'


class SqliteStash(_PicklesByArguments, CloseableStash):
    """A stash kept in one table of a SQLite database file.

    :param path: the database file (created, with its folder, on first use)
    :param table: the table to use; a plain identifier (letters, digits and
        ``_``), so several stashes can share one file
    :param serializer: turns values into the stored bytes (see
        :func:`~hutch.get_serializer`); pickle by default
    :param timeout: seconds a writer waits for another process's write
        before giving up with :class:`~hutch.PersistableError`
    :param read_only: open the database for reading only (SQLite's
        ``mode=ro``): nothing on disk changes -- a WAL left by a killed
        writer is read, not checkpointed -- and writes raise
        :class:`~hutch.PersistableError`.  A database this process can't
        write (a read-only mount, another user's folder) is opened this way
        by itself.
    :param max_items: the most rows the table keeps (``None``: no limit)
    :param max_bytes: the most bytes of stored values the table keeps
        (``None``: no limit); a single larger value raises ``ValueError``
    :param policy: which rows a write over a limit deletes first: ``'lru'``
        those read or written longest ago, ``'fifo'`` those written first

    :param mmap: load the buffers of large values (numpy arrays ...) as
        read-only views of their side file instead of reading them into
        memory
    :param read_cache: how many bytes of the rows it read each thread keeps
        to answer the same reads again, without a query, until anyone
        commits to the database (``0``: every read queries SQLite)

    Limits are enforced on write, in the write's own transaction, so the
    table is within them after every write (a batch larger than the limits
    keeps only what fits).  Reads write nothing: a bounded stash remembers
    the keys it read and stamps their use with its next write or on
    :meth:`close` (uses by a process that never writes again are lost).
    The limits belong to the stash, not the file: an unbounded stash on
    the same table writes past them until a bounded one writes.  A bounded
    stash keeps every value in its table, large ones too, so that its byte
    limit counts them.

    Not for network file systems: SQLite's locks are not reliable there.

    >>> import os, tempfile
    >>> s = SqliteStash(os.path.join(tempfile.mkdtemp(), 'lru.sqlite3'),
    ...                 max_items=2)
    >>> s['a'], s['b'] = 1, 2
    >>> s['a']           # 'a' is now used more recently than 'b'
    1
    >>> s['c'] = 3       # over the limit: 'b' goes
    >>> sorted(s.keys())
    ['a', 'c']
    """

    shareable = True

    #: pickled by path, never by connection
    _PICKLED = ('path', 'table', 'serializer', 'timeout', 'read_only',
                'max_items', 'max_bytes', 'policy', 'mmap', 'read_cache')

    def __init__(self, path: Union[str, os.PathLike[str]],
                 table: str = 'stash', serializer: SerializerSpec = None,
                 timeout: float = 60.0, read_only: bool = False,
                 max_items: Optional[int] = None,
                 max_bytes: Optional[int] = None,
                 policy: str = 'lru', mmap: bool = False,
                 read_cache: int = READ_CACHE) -> None:
        path = check_path(path)
        if not isinstance(mmap, bool):
            raise TypeError(f'mmap must be a bool, got {mmap!r}')
        if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
            raise ValueError(f'table must be a plain identifier, got {table!r}')
        if table.lower().startswith('sqlite_'):
            raise ValueError(f'table names starting with sqlite_ are '
                             f'reserved by SQLite, got {table!r}')
        check_seconds(timeout, 'timeout', none=False)
        self.path = Path(path)
        self.table = table
        self.serializer = get_serializer(serializer)
        self.timeout = float(timeout)
        self.read_only = bool(read_only)
        bounds = Bounds(table, max_items, max_bytes, policy)
        self.max_items, self.max_bytes = bounds.max_items, bounds.max_bytes
        self.policy = policy
        self.mmap = mmap
        self.read_cache = check_int(read_cache, 'read_cache', low=0)
        self._setup()

    def _setup(self) -> None:
        def sql(template: str) -> str:
            return template.replace('{table}', self.table)

        self._sql_create = sql(SQL_CREATE)
        self._sql_upsert = sql(SQL_UPSERT)
        self._sql_select = sql(SQL_SELECT)
        self._sql_select_many = sql(SQL_SELECT_MANY)
        self._sql_exists = sql(SQL_EXISTS)
        self._sql_delete = sql(SQL_DELETE)
        self._sql_clear = sql(SQL_CLEAR)
        self._sql_count = sql(SQL_COUNT)
        self._sql_keys_first = sql(SQL_KEYS_FIRST)
        self._sql_keys_after = sql(SQL_KEYS_AFTER)
        self._sql_items_first = sql(SQL_ITEMS_FIRST)
        self._sql_items_after = sql(SQL_ITEMS_AFTER)
        self._sql_side = [sql(SQL_ORPHANS), sql(SQL_ON_REPLACE),
                          sql(SQL_ON_DELETE)]
        self._sql_take_orphans = sql(SQL_TAKE_ORPHANS)
        self._sql_side_names = sql(SQL_SIDE_NAMES)
        self._side = SideFiles(side_folder(self.path, self.table))
        self._encode = self.serializer.encode
        self._loads = self.serializer.loads
        self._local = _Local()
        self._lock = threading.Lock()
        bounded = self.max_items is not None or self.max_bytes is not None
        self._bounds: Optional[Bounds] = Bounds(
            self.table, self.max_items, self.max_bytes, self.policy) \
            if bounded else None
        # key -> when it was last read, until the next write stamps it (a
        # read-only stash never writes, so it notes nothing)
        self._touched: Optional[dict[str, int]] = {} if bounded and \
            self.policy == 'lru' and not self.read_only else None
        # every connection this process opened, so close() reaches all
        # threads' connections; epoch tells threads theirs was closed
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_pid = _process.pid
        self._epoch = 0

    # -- connections ------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and after fork)."""
        local = self._local
        conn = local.conn
        if conn is None or local.pid != _process.pid or local.epoch != self._epoch:
            conn = self._connect()
        return conn

    def _cursor(self) -> sqlite3.Cursor:
        """A cursor of this thread's connection, reused by the one-row calls
        (making a cursor per call costs more than the lookup it runs)."""
        local = self._local
        cursor = local.cursor
        if cursor is None or local.pid != _process.pid or local.epoch != self._epoch:
            self._connect()
            cursor = local.cursor
            assert cursor is not None
        return cursor

    def _connect(self) -> sqlite3.Connection:
        local = self._local
        pid = _process.pid
        with self._lock:
            self._adopt_or_prune(pid)
            if self.read_only:
                conn, rows = self._open_read_only(), None
            else:
                conn, writable = self._open_read_write()
                # the rows it reads are kept only where the database is in
                # WAL mode, which a connection that can write has made sure
                rows = RowCache.attach(conn, self.path, self.read_cache) \
                    if writable else None
            self._conns.append((threading.current_thread(), conn))
            local.conn, local.cursor, local.rows = conn, conn.cursor(), rows
            local.pid, local.epoch = pid, self._epoch
        logger.debug('opened %s (table %s)', self.path, self.table)
        return conn

    def _open_read_write(self) -> tuple[sqlite3.Connection, bool]:
        """A connection set up for writing -- or a read-only one when the
        database exists but can't be written -- and whether it can write."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None,
                check_same_thread=False)
        except (sqlite3.Error, OSError) as e:
            raise PersistableError(
                f'cannot open database: {e}', path=self.path) from e
        try:
            self._configure(conn)
        except sqlite3.Error as e:
            conn.close()
            if isinstance(e, sqlite3.OperationalError) and \
                    self.path.is_file() and cannot_write(e):
                logger.debug('%s is not writable (%s): reading only',
                             self.path, e)
                return self._open_read_only(), False
            raise PersistableError(
                f'cannot set up table {self.table!r}: {e}',
                path=self.path) from e
        return conn, True

    def _open_read_only(self) -> sqlite3.Connection:
        try:
            return connect_read_only(self.path, self.timeout)
        except sqlite3.Error as e:
            raise PersistableError(f'cannot open database to read: {e}',
                                   path=self.path) from e

    def _configure(self, conn: sqlite3.Connection) -> None:
        """Put the database in WAL mode and make the table if it is missing.

        WAL is a property of the file, so it is switched on only when it is
        not on yet.  Switching, and creating the table, can meet another
        process doing the same at that moment; SQLite may then answer
        "database is locked" at once, without waiting out the busy timeout,
        so the whole set-up is retried until :attr:`timeout`.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                mode = conn.execute(SQL_JOURNAL_MODE).fetchone()[0]
                if str(mode).lower() != 'wal':
                    conn.execute(SQL_WAL)
                conn.execute(SQL_SYNCHRONOUS)
                conn.execute(SQL_MMAP)
                conn.execute(self._sql_create)
                if self._bounds is not None:
                    conn.execute('BEGIN IMMEDIATE')
                    try:
                        self._bounds.configure(conn)
                    except BaseException:
                        conn.execute('ROLLBACK')
                        raise
                    conn.execute('COMMIT')
                return
            except sqlite3.OperationalError as e:
                if 'locked' not in str(e) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def close(self) -> None:
        """Close every connection this process opened for the stash.

        Before that, the write-ahead log is moved into the database and
        emptied when it can be done at once (no other connection is reading
        an older snapshot, and the database has room to take the pages), so
        a closed stash leaves no large ``-wal`` file even while other
        connections stay open; otherwise a later close does it.  The stash
        stays usable: the next call opens a new connection.  A
        bounded stash first writes when the keys it read were last used.
        """
        if self._touched:
            self._write_bounded([], None)
        with self._lock:
            self._adopt_or_prune(_process.pid)
            conns, self._conns = self._conns, []
            self._epoch += 1
        if conns:
            self._checkpoint(conns[-1][1])
        for _, conn in conns:
            conn.close()
        self._local.conn = self._local.cursor = self._local.rows = None

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Empty the write-ahead log into the database if that can be done
        without waiting; when it can't, the log stays for a later close (it
        holds only data already committed, or the remains of a failed
        write), so this never raises."""
        try:
            conn.execute(SQL_NO_WAIT)
            busy = conn.execute(SQL_CHECKPOINT).fetchone()[0]
        except sqlite3.Error as e:
            level = logging.WARNING if is_full(e) else logging.DEBUG
            logger.log(level, 'write-ahead log of %s kept (%s): a later '
                       'close empties it', self.path, e)
            return
        if busy:
            logger.debug('write-ahead log of %s kept: another connection '
                         'is reading', self.path)

    def _adopt_or_prune(self, pid: int) -> None:
        """Abandon the connections a forked child inherited (see
        ``_inherited``); close those of threads that have ended."""
        if self._conns_pid != pid:
            _inherited.extend(conn for _, conn in self._conns)
            self._conns, self._conns_pid = [], pid
            return
        live = []
        for thread, conn in self._conns:
            if thread.is_alive():
                live.append((thread, conn))
            else:
                conn.close()
        self._conns = live

    def _error(self, what: str, e: BaseException,
               key: Optional[str] = None) -> PersistableError:
        if is_full(e):
            return DiskFullError(f'cannot {what}: {e}', key=key,
                                 path=self.path, errno=errno.ENOSPC)
        return PersistableError(f'cannot {what}: {e}', key=key, path=self.path)

    # -- the stash primitives ----------------------------------------------

    def load(self, name: str) -> Any:
        return self._read(name)

    def lookup(self, name: str) -> Any:
        return self._read(name, MISSING)

    def get(self, name: str, default: Any = None) -> Any:
        """The value under ``name``, or ``default``: one query -- or none,
        when this thread read the row before and nobody has committed since
        (see :mod:`hutch.stash._sqlite_rows`).

        This is the read every other read is built on, and a memoized hit's
        only work besides its key, so it calls no helper on the way: the
        connection check of :meth:`_cursor` is repeated here.
        """
        if not isinstance(name, str):
            raise key_type_error(name)
        local = self._local
        cursor = local.cursor
        if cursor is None or local.pid != _process.pid or \
                local.epoch != self._epoch:
            cursor = self._cursor()
        rows = local.rows
        data = None if rows is None else rows.find(name)
        if data is None:
            try:
                row = cursor.execute(self._sql_select, (name,)).fetchone()
            except UnicodeEncodeError as e:
                raise unencodable_key_error(name) from e
            except sqlite3.Error as e:
                raise self._error('load', e, name) from e
            if row is None:
                return default
            data = row[0]
            if rows is not None and data.__class__ is bytes:
                rows.keep(name, data)
        touched = self._touched
        if touched is not None:
            touched[name] = time.time_ns()
            if len(touched) > _TOUCH_PENDING:
                self._write_bounded([], None)
        if data.__class__ is str:
            return self._read_side(name, data, default)
        try:
            return self._loads(data)
        except Exception as e:
            raise deserialize_error(e, name, self.path) from e

    # load and lookup read through this name, not through get: a subclass
    # that changes load gets a get built on its load (see Stash), which
    # must not lead back to load
    _read = get

    def _read_side(self, name: str, file: str, default: Any = MISSING) -> Any:
        """The value of key ``name`` in side file ``file``, which its row
        named; when a writer replaced the file meanwhile, the row is read
        again (``default`` when it is gone)."""
        while True:
            try:
                f = self._side.open(file)
            except FileNotFoundError:
                try:
                    row = self._cursor().execute(
                        self._sql_select, (name,)).fetchone()
                except sqlite3.Error as e:
                    raise self._error('load', e, name) from e
                if row is None:
                    return default
                if row[0] == file:
                    raise CorruptDataError(
                        'the side file of the value is missing', key=name,
                        path=self._side.path_of(file)) from None
                if row[0].__class__ is not str:
                    return self._decode(name, row[0])
                file = row[0]
                continue
            except ValueError as e:
                raise deserialize_error(e, name, self.path) from e
            except (ForeignFileError, IsADirectoryError) as e:
                raise ForeignFileError(
                    'no regular file where the side file of the value '
                    'should be', key=name, path=self._side.path_of(file)
                ) from e
            with f:
                try:
                    return self.serializer.read(f, self.mmap)
                except Exception as e:
                    raise deserialize_error(
                        e, name, self._side.path_of(file)) from e

    def _decode(self, name: str, data: Any) -> Any:
        """The value of a row's ``data``: bytes, or a side file's name."""
        if data.__class__ is str:
            return self._read_side(name, data)
        try:
            return self._loads(data)
        except Exception as e:
            raise deserialize_error(e, name, self.path) from e

    def exists(self, name: str) -> bool:
        if not isinstance(name, str):
            raise key_type_error(name)
        try:
            return self._cursor().execute(
                self._sql_exists, (name,)).fetchone() is not None
        except UnicodeEncodeError as e:
            raise unencodable_key_error(name) from e
        except sqlite3.Error as e:
            raise self._error('look up', e, name) from e

    def dump(self, name: str, inst: Any) -> None:
        if not isinstance(name, str):
            raise key_type_error(name)
        try:
            chunks = self._encode(inst)
        except Exception as e:
            raise serialize_error(e, inst, self.serializer.name, name,
                                  self.path) from e
        if self._bounds is not None:
            # a bounded table keeps every value in its rows (see above)
            data = chunks[0] if len(chunks) == 1 else b''.join(chunks)
            self._bounds.check_size(name, memoryview(data).nbytes)
            self._write_bounded([(name, data)], name)
            return
        if is_large(chunks):
            self._dump_large(name, chunks)
            return
        try:
            self._cursor().execute(self._sql_upsert, (name, chunks[0]))
        except UnicodeEncodeError as e:
            raise unencodable_key_error(name) from e
        except sqlite3.Error as e:
            raise self._error('dump', e, name) from e

    def _dump_large(self, name: str, chunks: list[Chunk]) -> None:
        """Store a large value in a side file, and its name in the row."""
        conn = self._connection()
        try:
            conn.execute('BEGIN IMMEDIATE')
        except sqlite3.Error as e:
            raise self._error('dump', e, name) from e
        written: Optional[str] = None
        try:
            for sql in self._sql_side:
                conn.execute(sql)
            written = self._write_side(name, chunks)
            conn.execute(self._sql_upsert, (name, written))
            orphans = [n for (n,) in
                       conn.execute(self._sql_take_orphans).fetchall()]
            conn.execute('COMMIT')
        except BaseException as e:
            if conn.in_transaction:
                conn.execute('ROLLBACK')
            if written is not None:
                self._side.remove([written])
            if isinstance(e, UnicodeEncodeError):
                raise unencodable_key_error(name) from e
            if isinstance(e, sqlite3.Error):
                raise self._error('dump', e, name) from e
            raise
        self._side.remove(orphans)

    def _write_side(self, name: str, chunks: list[Chunk]) -> str:
        """Write a side file for key ``name``; its name.  No room is said
        of the database, as for a value in the table."""
        try:
            return self._side.write(name, chunks, False)
        except DiskFullError as e:
            raise DiskFullError(f'{e.msg} (a side file of the database)',
                                key=name, path=self.path,
                                errno=e.errno) from e

    def _remove_orphans(self) -> None:
        """Remove the side files of values replaced or deleted since."""
        if not self._side.exists():
            return
        try:
            orphans = [n for (n,) in self._connection().execute(
                self._sql_take_orphans).fetchall()]
        except sqlite3.OperationalError as e:
            if 'no such table' in str(e):  # no large value committed yet
                return
            raise self._error('remove side files', e) from e
        self._side.remove(orphans)

    def delete(self, name: Optional[str] = None) -> None:
        if not isinstance(name, str):
            raise key_type_error(name)
        try:
            self._cursor().execute(self._sql_delete, (name,))
        except UnicodeEncodeError as e:
            raise unencodable_key_error(name) from e
        except sqlite3.Error as e:
            raise self._error('delete', e, name) from e
        self._remove_orphans()

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """SQLite's own ``quick_check`` of the database file; then the side
        folder of large values: stale temporary files, files no row names
        (orphans) and rows whose file is missing or not a regular file;
        with ``values`` also the rows whose value can't be read.  ``fix``
        removes stale temporary files and orphans, holding the write lock
        (see :mod:`hutch.stash._sqlite_check`).

        :raises PersistableError: for ``fix`` on a read-only stash
        """
        return check_database(self, fix, values)

    def clear(self) -> None:
        """Delete every row of the table (the file and table remain), and
        every side file: those of the rows, and any a killed writer left."""
        if not self._side.exists():
            try:
                self._connection().execute(self._sql_clear)
            except sqlite3.Error as e:
                raise self._error('clear', e) from e
            return
        conn = self._connection()
        try:
            conn.execute('BEGIN IMMEDIATE')
            try:
                for sql in self._sql_side:
                    conn.execute(sql)
                named = [n for (n,) in
                         conn.execute(self._sql_side_names).fetchall()]
                # holding the write lock, no writer is between writing its
                # side file and committing: unnamed files are litter
                self._side.sweep(keep=named)
                conn.execute(self._sql_clear)
                named += [n for (n,) in
                          conn.execute(self._sql_take_orphans).fetchall()]
                conn.execute('COMMIT')
            except BaseException:
                if conn.in_transaction:
                    conn.execute('ROLLBACK')
                raise
        except sqlite3.Error as e:
            raise self._error('clear', e) from e
        self._side.remove(named)

    def keys(self) -> SqliteKeys:
        """The keys, in key order; sized, and read a page at a time."""
        return SqliteKeys(self)

    def _pages(self, first: str, after: str) -> Iterator[Any]:
        """The rows of ``first`` then ``after`` (the same query resumed
        past a key), a page at a time in key order: no statement stays open
        between pages, so callers may write while they iterate."""
        try:
            conn = self._connection()
            rows = conn.execute(first, (_PAGE,)).fetchall()
            while rows:
                yield from rows
                if len(rows) < _PAGE:
                    return
                rows = conn.execute(after, (rows[-1][0], _PAGE)).fetchall()
        except sqlite3.Error as e:
            raise self._error('list keys', e) from e

    def _iter_keys(self) -> Iterator[str]:
        for (key,) in self._pages(self._sql_keys_first, self._sql_keys_after):
            yield key

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` pairs in key order, read a page at a time."""
        for key, data in self._pages(self._sql_items_first,
                                     self._sql_items_after):
            value = self._decode(key, data)
            if value is not MISSING:  # deleted since the page was read
                yield key, value

    def values(self) -> Iterator[Any]:
        """The values in key order, read a page at a time."""
        return (value for _, value in self.items())

    def __len__(self) -> int:
        try:
            count: int = self._connection().execute(
                self._sql_count).fetchone()[0]
        except sqlite3.Error as e:
            raise self._error('count keys', e) from e
        return count

    # -- batches -------------------------------------------------------------

    def dump_many(self, items: Union[Mapping[str, Any],
                                     Iterable[tuple[str, Any]]]) -> None:
        """Store many ``(key, value)`` pairs (or a mapping) in one transaction.

        Either every item is stored or, when one fails (a bad key, a value
        that can't be serialized), none is.
        """
        pairs = items.items() if isinstance(items, Mapping) else items
        encode = self._encode
        written: list[str] = []

        def rows() -> Iterator[tuple[str, Union[bytes, memoryview, str]]]:
            for key, value in pairs:
                if not isinstance(key, str):
                    raise key_type_error(key)
                try:
                    chunks = encode(value)
                except Exception as e:
                    raise serialize_error(e, value, self.serializer.name,
                                          key, self.path) from e
                if is_large(chunks) and self._bounds is None:
                    # the batch holds the write lock: see SideFiles
                    written.append(self._write_side(key, chunks))
                    yield key, written[-1]
                else:
                    yield key, chunks[0] if len(chunks) == 1 \
                        else b''.join(chunks)

        if self._bounds is not None:
            bounds = self._bounds
            batch = list(rows())
            for key, data in batch:  # bytes: large values stay in rows
                bounds.check_size(key, memoryview(data).nbytes)  # type: ignore[arg-type]
            self._write_bounded(batch, None)
            return
        conn = self._connection()
        try:
            conn.execute('BEGIN IMMEDIATE')
        except sqlite3.Error as e:
            raise self._error('begin a batch dump', e) from e
        try:
            if self._side.exists():
                for sql in self._sql_side:
                    conn.execute(sql)
            conn.executemany(self._sql_upsert, rows())
            orphans: list[str] = []
            if written:
                for sql in self._sql_side:
                    conn.execute(sql)
                orphans = [n for (n,) in
                           conn.execute(self._sql_take_orphans).fetchall()]
            conn.execute('COMMIT')
        except BaseException as e:
            if conn.in_transaction:  # SQLite may have rolled back already
                conn.execute('ROLLBACK')
            self._side.remove(written)
            if isinstance(e, sqlite3.Error):
                raise self._error('dump a batch', e) from e
            raise
        self._side.remove(orphans)

    def _write_bounded(self, rows: list[tuple[str, Any]],
                       keep: Optional[str]) -> None:
        """Store ``rows`` in a bounded table, stamp the keys read since the
        last write, and evict what is over the limits (never ``keep``), in
        one transaction."""
        bounds = self._bounds
        assert bounds is not None
        touched = self._touched
        if touched:
            self._touched = {}
        now = time.time_ns()
        key = rows[0][0] if len(rows) == 1 else None
        conn = self._connection()
        try:
            conn.execute('BEGIN IMMEDIATE')
        except sqlite3.Error as e:
            raise self._error('begin a write', e, key) from e
        try:
            if touched:
                bounds.touch(conn, [(t, k) for k, t in touched.items()])
            conn.executemany(bounds.upsert, [(k, d, now) for k, d in rows])
            bounds.evict(conn, set() if keep is None else {keep})
            conn.execute('COMMIT')
        except BaseException as e:
            if conn.in_transaction:  # SQLite may have rolled back already
                conn.execute('ROLLBACK')
            if touched and self._touched is not None:
                self._touched.update(touched)
            if isinstance(e, UnicodeEncodeError):
                raise unencodable_key_error(key or '') from e
            if isinstance(e, sqlite3.Error):
                raise self._error('dump', e, key) from e
            raise

    def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of those ``keys`` that are stored, read in one transaction.

        The result is ordered as ``keys``; keys that are absent are left out
        (a stored ``None`` is kept).
        """
        wanted = list(keys)
        for key in wanted:
            if not isinstance(key, str):
                raise key_type_error(key)
        found: dict[str, bytes] = {}
        conn = self._connection()
        try:
            conn.execute('BEGIN')
            try:
                for group in chunks(dict.fromkeys(wanted), _PAGE):
                    sql = self._sql_select_many.replace(
                        '{marks}', ','.join('?' * len(group)))
                    found.update(conn.execute(sql, group).fetchall())
            finally:
                conn.execute('COMMIT')
        except sqlite3.Error as e:
            raise self._error('load a batch', e) from e
        result: dict[str, Any] = {}
        for key in wanted:
            if key in found and key not in result:
                value = self._decode(key, found[key])
                if value is not MISSING:  # deleted since it was read
                    result[key] = value
        return result

    def __repr__(self) -> str:
        limits = ''.join(f', {n}={v!r}' for n, v in (
            ('max_items', self.max_items), ('max_bytes', self.max_bytes))
            if v is not None)
        return (f'{type(self).__name__}({str(self.path)!r}, '
                f'table={self.table!r}{limits})')

