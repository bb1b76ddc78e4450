"""A stash in a ``dbm`` database, the store behind Python's :mod:`shelve`.

:class:`ShelveStash` keeps its items in whichever ``dbm`` back end this
Python has (``dbm.gnu``, ``dbm.ndbm`` or the pure-Python ``dbm.dumb``).  With
the default pickle serializer the database is an ordinary shelf:
:func:`shelve.open` reads what the stash wrote, and the stash reads shelves.

Every back end names its files its own way (``dbm.dumb`` makes ``.dat``,
``.dir`` and ``.bak`` files beside ``path``, ``dbm.gnu`` one file at
``path``); :attr:`ShelveStash.real_path` is the main one and
:meth:`ShelveStash.clear` removes them all.

Two processes may use one shelf: every access holds an inter-process
:class:`~hutch._files.FileLock` on the path (kept outside the data folder).

On ``dbm.dumb`` a process killed mid-write leaves the shelf as it was before
or after that write, never torn or emptied: such shelves are opened through
:mod:`hutch.stash._dumb`, which appends values and replaces the index
atomically (same file format).
"""

from __future__ import annotations

import dbm
import importlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, TypeVar, Union

from .._files import FileLock, check_path, remove_stale_temps
from .._keys import key_type_error, unencodable_key_error
from ..errors import PersistableError, deserialize_error, serialize_error
from ..serial import SerializerSpec, get_serializer
from ..util import MISSING
from ._dumb import open_safe_dumb
from .base import CloseableStash, _PicklesByArguments

__all__ = ['ShelveStash', 'shelve']

logger = logging.getLogger(__name__)

T = TypeVar('T')

#: the files each ``dbm`` back end makes beside the path it is given, main
#: file first (``dbm.ndbm`` makes ``.db`` or ``.pag``+``.dir``, by library)
BACKEND_SUFFIXES: dict[str, tuple[str, ...]] = {
    'dbm.gnu': ('',),
    'dbm.ndbm': ('.db', '.pag', '.dir'),
    'dbm.dumb': ('.dat', '.dir', '.bak'),
}

_DB_ERRORS: tuple[type[BaseException], ...] = (*dbm.error, OSError)

# database handles inherited through fork() are never closed in the child
# (closing commits a possibly stale index over the parent's); kept here so
# they are never finalized either
_inherited: list[Any] = []


def _default_kind() -> str:
    """The back end :func:`dbm.open` makes new databases with."""
    for kind in BACKEND_SUFFIXES:
        try:
            importlib.import_module(kind)
        except ImportError:
            continue
        return kind
    raise PersistableError('no dbm back end available')  # pragma: no cover


def _backend_files(path: Path, kind: str) -> list[Path]:
    """The files of back end ``kind`` that exist for a database at ``path``."""
    return [p for p in (Path(f'{path}{suffix}')
                        for suffix in BACKEND_SUFFIXES.get(kind, ()))
            if p.is_file()]


class ShelveStash(_PicklesByArguments, CloseableStash):
    """A stash in a ``dbm`` database: the original API's shelve stash.

    :param path: the database, as given to :func:`dbm.open` (the back end
        may add an extension; see :attr:`real_path`)
    :param writeback: with ``auto_close`` off, remember every item read or
        written and store them all again at :meth:`sync`/:meth:`close`, so
        changes made to a loaded object in place are saved (as
        :func:`shelve.open`'s ``writeback``); it has nothing to do when
        ``auto_close`` is on, since each call then stands alone
    :param auto_close: close the database after every call, so each call
        sees what other processes wrote and they see its writes at once.
        When off, the database stays open -- and the shelf locked against
        other processes, which wait up to ``lock_timeout`` -- from the first
        call until :meth:`close`: faster for a burst of work in one process
    :param serializer: turns values into stored bytes; pickle (a plain
        shelf) by default
    :param lock_timeout: seconds to wait for another process's hold on the
        shelf before :class:`~hutch.LockTimeoutError`

    >>> import os, tempfile
    >>> s = ShelveStash(os.path.join(tempfile.mkdtemp(), 'shelf'))
    >>> s.dump('a', {'x': 1}); s.dump('b', None)
    >>> s['a'], sorted(s.keys()), s['b'], len(s)
    ({'x': 1}, ['a', 'b'], None, 2)
    >>> s.real_path.exists()
    True
    >>> s.clear(); s.real_path.exists()
    False
    """

    #: pickled by path, never by open database
    _PICKLED = ('path', 'writeback', 'auto_close', 'serializer',
                'lock_timeout')

    def __init__(self, path: Union[str, os.PathLike[str]],
                 writeback: bool = True, auto_close: bool = True,
                 serializer: SerializerSpec = None,
                 lock_timeout: Optional[float] = 60.0) -> None:
        path = check_path(path)
        self.path = Path(path)
        self.writeback = bool(writeback)
        self.auto_close = bool(auto_close)
        self.serializer = get_serializer(serializer)
        self.lock_timeout = lock_timeout
        self._setup()

    @property
    def shareable(self) -> bool:  # type: ignore[override]
        """With :attr:`auto_close`, every call stands alone, so other
        processes can safely write through a copy of this stash."""
        return self.auto_close

    def _setup(self) -> None:
        self._lock = threading.RLock()
        self._flock = FileLock(self.path, timeout=self.lock_timeout)
        self._db: Any = None          # the open database (auto_close off)
        self._pid = -1                # the process that opened it
        self._cache: dict[str, Any] = {}  # writeback items
        self._dumps = self.serializer.dumps
        self._loads = self.serializer.loads

    # -- files ---------------------------------------------------------------

    _extension: Optional[str] = None
    _extension_known = False

    @classmethod
    def get_extension(cls) -> Optional[str]:
        """The extension (without the dot) of the main file that this
        Python's default ``dbm`` back end adds to a new database's path, or
        ``None`` when it adds none (``dbm.gnu``).  Found once, by making a
        database in a temporary folder."""
        if not ShelveStash._extension_known:
            with tempfile.TemporaryDirectory() as folder:
                probe = Path(folder) / 'probe'
                dbm.open(str(probe), 'c').close()
                kind = dbm.whichdb(str(probe)) or ''
                files = _backend_files(probe, kind)
                ext = files[0].suffix if files and files[0] != probe else ''
            ShelveStash._extension = ext[1:] if ext else None
            ShelveStash._extension_known = True
            logger.debug('dbm back end %s; extension %r', kind,
                         ShelveStash._extension)
        return ShelveStash._extension

    def _kind(self) -> Optional[str]:
        """The back end of the database at :attr:`path`; ``None`` if absent.

        :raises PersistableError: when files are there but no back end
            recognizes them
        """
        kind = dbm.whichdb(str(self.path))
        if kind == '':
            raise PersistableError('not a dbm database', path=self.path)
        if kind is None and any(
                Path(f'{self.path}{suffix}').exists()
                for suffixes in BACKEND_SUFFIXES.values()
                for suffix in suffixes):
            # whichdb answers None ("no database") when it cannot tell what
            # the files are: a damaged shelf must not read as an empty one
            raise PersistableError('unreadable dbm database', path=self.path)
        return kind

    @property
    def real_path(self) -> Path:
        """The main file the ``dbm`` back end keeps the shelf in.

        Back ends differ in what they add to :attr:`path` (``.dat`` for
        ``dbm.dumb``, ``.db`` or ``.pag`` for ``dbm.ndbm``, nothing for
        ``dbm.gnu``); this is that file for the shelf on disk, or the one a
        new shelf would make.
        """
        kind = dbm.whichdb(str(self.path))
        if kind:
            files = _backend_files(self.path, kind)
            if files:
                return files[0]
        ext = self.get_extension()
        return self.path if ext is None else Path(f'{self.path}.{ext}')

    def files(self) -> list[Path]:
        """Every file the ``dbm`` back end made for this shelf."""
        kind = dbm.whichdb(str(self.path))
        return _backend_files(self.path, kind) if kind else []

    # -- opening and closing -------------------------------------------------

    def _open(self, flag: str) -> Any:
        """Open the database with ``flag``: ``'r'`` (read only) or ``'w'``
        give ``None`` when it does not exist yet; ``'c'`` makes it."""
        try:
            kind = self._kind()
            if kind is None:
                if flag != 'c':
                    return None
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if _default_kind() == 'dbm.dumb':
                    return open_safe_dumb(str(self.path), 'c')
                return dbm.open(str(self.path), 'c')
            if kind == 'dbm.dumb':
                # as shipped, dbm.dumb loses or tears data when killed
                return open_safe_dumb(str(self.path),
                                      'r' if flag == 'r' else 'w')
            module = importlib.import_module(kind)
            return module.open(str(self.path), 'r' if flag == 'r' else 'w')
        except PersistableError:
            raise
        except Exception as e:
            # dbm.dumb parses its index with ast: a damaged index raises
            # SyntaxError or ValueError, not dbm.error
            raise PersistableError(
                f'cannot open shelf: {e!r}', path=self.path) from e

    def _close_db(self, db: Any) -> None:
        try:
            db.close()
        except _DB_ERRORS as e:
            raise PersistableError(
                f'cannot close shelf: {e}', path=self.path) from e

    def _run(self, write: bool, op: Callable[[Any], T], absent: T) -> T:
        """``op(db)`` on the open database, under the locks; ``absent`` for a
        read of a shelf that does not exist yet."""
        with self._lock:
            if self.auto_close:
                with self._flock:
                    db = self._open('c' if write else 'r')
                    if db is None:
                        return absent
                    try:
                        return op(db)
                    finally:
                        self._close_db(db)
            db = self._db
            if db is None or self._pid != os.getpid():
                db = self._hold(write)
                if db is None:
                    return absent
            return op(db)

    def _hold(self, write: bool) -> Any:
        """Open the database and lock the shelf until :meth:`close` (for
        ``auto_close`` off); ``None`` for a read when there is no shelf."""
        if self._db is not None:  # opened before a fork: not ours
            self._forget_inherited()
        self._flock.acquire()
        try:
            db = self._open('c' if write else 'w')
        except BaseException:
            self._flock.release()
            raise
        if db is None:
            self._flock.release()
            return None
        self._db, self._pid = db, os.getpid()
        return db

    def _forget_inherited(self) -> None:
        """In a forked child: leave the parent's database alone and drop
        the child's copy of the parent's lock."""
        _inherited.append(self._db)
        self._db = None
        self._cache = {}
        self._flock.release()

    def sync(self) -> None:
        """Store the writeback items again and flush the database to disk."""
        with self._lock:
            if self._db is None or self._pid != os.getpid():
                return
            self._write_back(self._db)
            sync = getattr(self._db, 'sync', None)
            if sync is not None:
                try:
                    sync()
                except _DB_ERRORS as e:
                    raise PersistableError(
                        f'cannot sync shelf: {e}', path=self.path) from e

    def _write_back(self, db: Any) -> None:
        cache, self._cache = self._cache, {}
        for name, value in cache.items():
            self._put(db, name, name.encode('utf-8'),
                      self._serialize(name, value))

    def close(self) -> None:
        """Write back, close the database and let other processes in.

        The stash stays usable: the next call opens the database again.
        """
        with self._lock:
            db = self._db
            if db is None:
                return
            if self._pid != os.getpid():
                self._forget_inherited()
                return
            self._db = None
            try:
                self._write_back(db)
            finally:
                try:
                    self._close_db(db)
                finally:
                    self._flock.release()

    # -- the stash primitives ----------------------------------------------

    def _serialize(self, name: str, value: Any) -> bytes:
        """The bytes of ``value``, made before the shelf is opened, so a
        value that can't be serialized leaves the shelf as it was."""
        try:
            return self._dumps(value)
        except Exception as e:
            raise serialize_error(e, value, self.serializer.name, name,
                                  self.path) from e

    def _put(self, db: Any, name: str, key: bytes, data: bytes) -> None:
        try:
            db[key] = data
        except _DB_ERRORS as e:
            raise PersistableError(f'cannot store: {e}', key=name,
                                   path=self.path) from e

    def _key(self, name: object) -> bytes:
        """The dbm key of stash key ``name``; a clear error for a bad one."""
        if not isinstance(name, str):
            raise key_type_error(name)
        try:
            return name.encode('utf-8')
        except UnicodeEncodeError as e:
            raise unencodable_key_error(name) from e

    def load(self, name: str) -> Any:
        item = self._read(name)
        return None if item is MISSING else item

    def lookup(self, name: str) -> Any:
        return self._read(name)

    def get(self, name: str, default: Any = None) -> Any:
        item = self._read(name)
        return default if item is MISSING else item

    def _read(self, name: str) -> Any:
        """The value under ``name``, or :data:`~hutch.MISSING`."""
        key = self._key(name)

        def op(db: Any) -> Any:
            cache = self._cache
            if name in cache:
                return cache[name]
            try:
                data = db.get(key)
            except _DB_ERRORS as e:
                raise PersistableError(f'cannot read: {e}', key=name,
                                       path=self.path) from e
            if data is None:
                return MISSING
            try:
                value = self._loads(data)
            except Exception as e:
                raise deserialize_error(e, name, self.real_path) from e
            if self.writeback and not self.auto_close:
                cache[name] = value
            return value

        return self._run(False, op, MISSING)

    def exists(self, name: str) -> bool:
        key = self._key(name)
        return self._run(False, lambda db: key in db, False)

    def dump(self, name: str, inst: Any) -> None:
        key = self._key(name)
        data = self._serialize(name, inst)

        def op(db: Any) -> None:
            self._put(db, name, key, data)
            if self.writeback and not self.auto_close:
                self._cache[name] = inst

        self._run(True, op, None)

    def delete(self, name: Optional[str] = None) -> None:
        """Remove ``name``; a missing key is a no-op.  With no name, as in
        the original API, remove the whole shelf (:meth:`clear`)."""
        if name is None:
            self.clear()
            return
        key = self._key(name)

        def op(db: Any) -> None:
            self._cache.pop(name, None)
            try:
                if key in db:
                    del db[key]
                else:
                    logger.debug('delete of missing key %r', name)
            except _DB_ERRORS as e:
                raise PersistableError(f'cannot delete: {e}', key=name,
                                       path=self.path) from e

        self._run(True, op, None)

    def keys(self) -> list[str]:
        return self._run(
            False, lambda db: [k.decode('utf-8') for k in db.keys()], [])

    def __len__(self) -> int:
        return self._run(False, len, 0)

    def clear(self) -> None:
        """Remove every file the ``dbm`` back end made for this shelf."""
        with self._lock:
            if self._db is not None:
                # the items are going: nothing to write back
                self._cache = {}
                self.close()
            with self._flock:
                for path in self.files():
                    path.unlink()
                    logger.debug('removed %s', path)
                # index files left half written by killed writers
                prefix = f'.{self.path.name}.'
                remove_stale_temps(self.path.parent,
                                   keep=lambda n: not n.startswith(prefix))

    def __repr__(self) -> str:
        return f'{type(self).__name__}({str(self.path)!r})'


@contextmanager
def shelve(path: Union[str, os.PathLike[str]], writeback: bool = True,
           auto_close: bool = True, serializer: SerializerSpec = None,
           lock_timeout: Optional[float] = 60.0) -> Iterator[ShelveStash]:
    """A :class:`ShelveStash` for a ``with`` block, closed when it ends.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'shelf')
    >>> with shelve(path, auto_close=False) as s:
    ...     s.dump('a', [1])
    ...     s.load('a').append(2)   # writeback: saved when the block ends
    >>> with shelve(path) as s:
    ...     s['a']
    [1, 2]
    """
    stash = ShelveStash(path, writeback=writeback, auto_close=auto_close,
                        serializer=serializer, lock_timeout=lock_timeout)
    try:
        yield stash
    finally:
        stash.close()
