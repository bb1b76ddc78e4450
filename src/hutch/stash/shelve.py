"""A stash in a ``dbm`` database, the store behind Python's :mod:`shelve`.

With the default pickle serializer the database is an ordinary shelf:
:func:`shelve.open` reads what :class:`ShelveStash` wrote, and the stash
reads shelves of every ``dbm`` back end.  It makes new shelves with
:mod:`hutch.stash._dumb`, a ``dbm.dumb`` that keeps that format but that a
kill, a full disk or an exit without ``close()`` cannot corrupt or empty:
every store is on disk when it returns.

As ``shelve.open`` does, the first access makes the shelf's files
(``path.dat`` and ``path.dir``); :meth:`ShelveStash.clear` removes them all.

Processes and threads share a shelf safely: each access holds an ``flock``
on the shelf's own main file (``path.dat``), so writers exclude each other
whatever host, container, user or path (real or symlinked) they come from.
"""

from __future__ import annotations

import logging
import os
import shelve as std_shelve
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, TypeVar, Union

from .. import _process
from .._files import check_path, remove_stale_temps
from .._keys import key_type_error, unencodable_key_error
from ..errors import CorruptDataError, PersistableError
from ..serial import SerializerSpec, get_serializer
from ..util import MISSING
from . import _shelf
from .base import CloseableStash, _PicklesByArguments
from .check import DATABASE, CheckReport, Problem, check_values

__all__ = ['ShelveStash', 'shelve']

logger = logging.getLogger(__name__)

T = TypeVar('T')

_DB_ERRORS = _shelf._DB_ERRORS


class ShelveStash(_PicklesByArguments, CloseableStash):
    """A stash in a ``dbm`` database: the original API's shelve stash.

    :param path: the database, as given to :func:`dbm.open` (the files are
        ``path.dat`` and ``path.dir``; see :attr:`real_path`)
    :param writeback: with ``auto_close`` off, remember every item read or
        written and store them all again at :meth:`sync`/:meth:`close`, so
        changes made to a loaded object in place are saved (as
        :func:`shelve.open`'s ``writeback``); it has nothing to do when
        ``auto_close`` is on, since each call then stands alone
    :param auto_close: close the database after every call, so each call
        sees what other processes wrote and they see its writes at once.
        When off, the database stays open -- and the shelf locked against
        other processes, which wait up to ``lock_timeout`` -- from the first
        call until :meth:`close` (or until the stash is garbage collected,
        or the program exits): faster for a burst of work in one process
    :param serializer: turns values into stored bytes; pickle (a plain
        shelf) by default
    :param lock_timeout: seconds to wait for another process's hold on the
        shelf before :class:`~hutch.LockTimeoutError` (which names it)
    :param create: make the shelf's files on first access, reads included,
        as :func:`shelve.open` does; with ``False`` reads of a missing shelf
        find nothing and make nothing (only writes make it)

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
                'lock_timeout', 'create')

    def __init__(self, path: Union[str, os.PathLike[str]],
                 writeback: bool = True, auto_close: bool = True,
                 serializer: SerializerSpec = None,
                 lock_timeout: Optional[float] = 60.0,
                 create: bool = True) -> None:
        path = check_path(path)
        self.path = Path(path)
        self.writeback = bool(writeback)
        self.auto_close = bool(auto_close)
        self.serializer = get_serializer(serializer)
        self.lock_timeout = lock_timeout
        self.create = bool(create)
        self._setup()

    @property
    def shareable(self) -> bool:  # type: ignore[override]
        """With :attr:`auto_close`, every call stands alone, so other
        processes can safely write through a copy of this stash."""
        return self.auto_close

    def _setup(self) -> None:
        self._lock = threading.RLock()
        self._session: Optional[_shelf.Session] = None  # held until close()
        self._finalizer: Any = None  # a weakref.finalize closing the session

    # -- files ---------------------------------------------------------------

    @classmethod
    def get_extension(cls) -> Optional[str]:
        """The extension (without the dot) of the main file of the shelves
        this stash makes: ``'dat'`` (they are ``dbm.dumb`` shelves)."""
        return 'dat'

    @property
    def real_path(self) -> Path:
        """The main file the ``dbm`` back end keeps the shelf in.

        Back ends differ in what they add to :attr:`path` (``.dat`` for
        ``dbm.dumb``, ``.db`` or ``.pag`` for ``dbm.ndbm``, nothing for
        ``dbm.gnu``); this is that file for the shelf on disk, or the one a
        new shelf would make.
        """
        return _shelf.main_file(self.path,
                                _shelf.backend_of(self.path) or 'dbm.dumb')

    def files(self) -> list[Path]:
        """Every file the ``dbm`` back end made for this shelf."""
        return _shelf.files_of(self.path)

    # -- opening and closing -------------------------------------------------

    @property
    def shelve(self) -> std_shelve.Shelf:  # type: ignore[type-arg]
        """The open shelf (a :class:`shelve.Shelf`), as in the original.

        Taking it opens the shelf and holds it -- locked against other
        processes -- until :meth:`close`, whatever :attr:`auto_close` says;
        calls on the stash meanwhile use it too.
        """
        with self._lock:
            session = self._held()
            if session is None:
                session = self._hold(True)
            assert session is not None  # a write session is always made
            return session.shelf

    def _open(self, write: bool, create: bool,
              writeback: bool = False) -> Optional[_shelf.Session]:
        return _shelf.open_session(self.path, write, create,
                                   self.lock_timeout, writeback,
                                   self.serializer)

    def _held(self) -> Optional[_shelf.Session]:
        """The session this process holds, if any."""
        session = self._session
        if session is not None and session.pid != _process.pid:
            # opened before a fork: the parent's, not ours to use
            self._release()
            return None
        return session

    def _hold(self, write: bool) -> Optional[_shelf.Session]:
        """Open the shelf and keep it until :meth:`close` (or until this
        stash is collected, or the program exits)."""
        session = self._open(True, self.create or write, self.writeback)
        if session is not None:
            self._session = session
            self._finalizer = weakref.finalize(self, session.close)
        return session

    def _release(self) -> None:
        session, self._session = self._session, None
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if session is not None:
            session.close()

    def _run(self, write: bool, op: Callable[[_shelf._Shelf], T],
             absent: T) -> T:
        """``op(shelf)`` on the open shelf, under the locks; ``absent`` for
        a read of a shelf that does not exist (and is not to be made)."""
        with self._lock:
            session = self._held()
            if session is None and not self.auto_close:
                session = self._hold(write)
            if session is not None:
                return self._guarded(op, session)
            session = self._open(write, self.create or write)
            if session is None:
                return absent
            try:
                result = self._guarded(op, session)
            except BaseException as e:
                try:
                    session.close()
                except Exception as close_error:
                    # the call's own error is the one to see
                    logger.error('closing %s after a failed call also '
                                 'failed: %s', self.path, close_error)
                    if hasattr(e, 'add_note'):
                        e.add_note(f'closing the shelf also failed: '
                                   f'{close_error}')
                raise
            session.close()
            return result

    def _guarded(self, op: Callable[[_shelf._Shelf], T],
                 session: _shelf.Session) -> T:
        try:
            return op(session.shelf)
        except PersistableError:
            raise
        except _DB_ERRORS as e:
            raise PersistableError(f'cannot use shelf: {e}',
                                   path=self.path) from e

    def sync(self) -> None:
        """Store the writeback items again and flush the database to disk."""
        with self._lock:
            session = self._held()
            if session is not None:
                try:
                    session.shelf.sync()
                except _DB_ERRORS as e:
                    raise PersistableError(
                        f'cannot sync shelf: {e}', path=self.path) from e

    def close(self) -> None:
        """Write back, close the database and let other processes in.

        The stash stays usable: the next call opens the database again.
        """
        with self._lock:
            if self._session is not None and \
                    self._session.pid != _process.pid:
                self._held()  # lets go of the copy inherited by fork
                return
            self._release()

    # -- the stash primitives ----------------------------------------------

    def _key(self, name: object) -> str:
        """``name``, checked: a clear error for a key a shelf can't hold."""
        if not isinstance(name, str):
            raise key_type_error(name)
        try:
            name.encode('utf-8')
        except UnicodeEncodeError as e:
            raise unencodable_key_error(name) from e
        return name

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

        def op(shelf: std_shelve.Shelf) -> Any:  # type: ignore[type-arg]
            try:
                return shelf[key]
            except KeyError:
                return MISSING

        return self._run(False, op, MISSING)

    def exists(self, name: str) -> bool:
        key = self._key(name)
        return self._run(False, lambda shelf: key in shelf, False)

    def dump(self, name: str, inst: Any) -> None:
        key = self._key(name)
        # serialized before the shelf is opened: a value that can't be
        # stored leaves no file behind, even as a shelf's first value
        data = _shelf.serialize(self.serializer, name, inst, self.path)

        def op(shelf: _shelf._Shelf) -> None:
            try:
                shelf.store(key, inst, data)
            except _DB_ERRORS as e:
                raise PersistableError(f'cannot store: {e}', key=name,
                                       path=self.path) from e

        self._run(True, op, None)

    def delete(self, name: Optional[str] = None) -> None:
        """Remove ``name``; a missing key is a no-op.  With no name, as in
        the original API, remove the whole shelf (:meth:`clear`)."""
        if name is None:
            self.clear()
            return
        key = self._key(name)

        def op(shelf: std_shelve.Shelf) -> None:  # type: ignore[type-arg]
            try:
                del shelf[key]
            except KeyError:
                logger.debug('delete of missing key %r', name)
            except _DB_ERRORS as e:
                raise PersistableError(f'cannot delete: {e}', key=name,
                                       path=self.path) from e

        self._run(True, op, None)

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """The shelf's index against its data file: an index that can't be
        read (an entry pointing past the end of the data, a line cut short)
        and, for the ``dbm.dumb`` format, records that overlap; with
        ``values`` also the values that can't be read.  Nothing here is
        safe to remove: ``fix`` changes nothing.
        """
        report = CheckReport(type(self).__name__)
        none: list[tuple[bytes, bytes]] = []
        try:
            overlaps = self._run(False, _overlaps, none)
        except CorruptDataError as e:
            report.items = None
            report.problems.append(Problem(
                DATABASE, str(e.path or self.path), None, e.msg))
            return report
        where = f'{self.path}.dat'
        report.problems.extend(Problem(
            DATABASE, where, later.decode('utf-8', 'replace'),
            f'its record overlaps that of {first.decode("utf-8", "replace")!r}')
            for first, later in overlaps)
        check_values(self, report, values)
        return report

    def keys(self) -> list[str]:
        return self._run(False, lambda shelf: list(shelf.keys()), [])

    def __len__(self) -> int:
        return self._run(False, len, 0)

    def clear(self) -> None:
        """Remove every file the ``dbm`` back end made for this shelf."""
        with self._lock:
            session = self._held()
            if session is not None:
                # the items are going: nothing to write back
                session.shelf.cache.clear()
                self._release()
            fd = _shelf._lock(self.real_path, False, False,
                              self.lock_timeout, self.path)
            try:
                # index files left half written by killed writers go first:
                # once the main file is unlinked, a new shelf may be made
                # (and locked, on its new file) at once, and its writer's
                # temporary file is not stale
                prefix = f'{self.path.name}.'
                remove_stale_temps(self.path.parent,
                                   of=lambda file: file.startswith(prefix))
                # the locked main file goes last: while it stands, openers
                # wait on its lock, so none can make a new shelf beside an
                # index of the old one that is not gone yet
                main = self.real_path
                for path in sorted(self.files(), key=lambda p: p == main):
                    path.unlink()
                    logger.debug('removed %s', path)
            finally:
                if fd is not None:
                    os.close(fd)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({str(self.path)!r})'


def _overlaps(shelf: _shelf._Shelf) -> list[tuple[bytes, bytes]]:
    """The keys whose records overlap, in a ``dbm.dumb`` shelf (no other
    back end tells where its records are)."""
    overlaps = getattr(shelf.dict, 'overlaps', None)
    return [] if overlaps is None else list(overlaps())


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
