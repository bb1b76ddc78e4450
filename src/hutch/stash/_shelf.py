"""A shelf on disk: which files it is, how it is locked, one open session.

A shelf is a ``dbm`` database; hutch makes new ones with the crash-safe
``dbm.dumb`` of :mod:`hutch.stash._dumb` and opens existing ones of any back
end.  Writers are kept apart by an ``flock`` on the shelf's **own main
file** (``.dat`` for ``dbm.dumb``): the lock belongs to the store, so every
process that shares the files -- in another container, on another host,
as another user, through a symlinked path -- takes the same lock.  That
file is never replaced while the shelf exists (values are appended to it),
and after locking it the holder checks the name still leads to the file it
locked, so a shelf cleared and made again while a process waited is not
mistaken for the old one.
"""

from __future__ import annotations

import builtins
import dbm
import importlib
import os
import shelve
from pathlib import Path
from typing import Any, Optional

from .. import _process
from .._locks import wait_for_flock
from ..errors import (
    CorruptDataError,
    PersistableError,
    deserialize_error,
    serialize_error,
)
from ..serial import Serializer
from ._dumb import open_safe_dumb

__all__ = ['BACKEND_SUFFIXES', 'backend_of', 'Session', 'open_session']

#: the files each ``dbm`` back end makes beside the path it is given, main
#: file first (``dbm.ndbm`` makes ``.db`` or ``.pag``+``.dir``, by library)
BACKEND_SUFFIXES: dict[str, tuple[str, ...]] = {
    'dbm.gnu': ('',),
    'dbm.ndbm': ('.db', '.pag', '.dir'),
    'dbm.dumb': ('.dat', '.dir', '.bak'),
}

_DB_ERRORS: tuple[type[BaseException], ...] = (*dbm.error, OSError)
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


def backend_of(path: Path) -> Optional[str]:
    """The ``dbm`` back end of the shelf at ``path``; ``None`` when there
    are no shelf files there, ``''`` for a file no back end knows.

    Unlike :func:`dbm.whichdb` this knows a ``dbm.dumb`` shelf whose index is
    missing (its first write was killed) or damaged: its files are there, so
    it is a shelf, to be read (and refused clearly) or cleared.
    """
    kind = dbm.whichdb(os.fspath(path))
    if kind is None and any(os.path.lexists(f'{path}{s}')
                            for s in BACKEND_SUFFIXES['dbm.dumb']):
        return 'dbm.dumb'
    return kind


def files_of(path: Path) -> list[Path]:
    """Every file of the shelf at ``path`` that exists."""
    kind = backend_of(path) or 'dbm.dumb'
    if kind not in BACKEND_SUFFIXES:  # a back end this Python lacks
        kind = 'dbm.dumb'
    return [p for p in (Path(f'{path}{s}') for s in BACKEND_SUFFIXES[kind])
            if p.is_file() or p.is_symlink()]


def main_file(path: Path, kind: str) -> Path:
    """The file of a ``kind`` shelf at ``path`` that is never replaced."""
    for suffix in BACKEND_SUFFIXES[kind]:
        candidate = Path(f'{path}{suffix}')
        if kind == 'dbm.dumb' or candidate.exists():
            return candidate
    return Path(f'{path}{BACKEND_SUFFIXES[kind][0]}')


def serialize(serializer: Serializer, key: str, value: Any,
              path: Path) -> bytes:
    """The bytes of ``value``, or :class:`~hutch.SerializeError` naming the
    key, the shelf and the serializer."""
    try:
        return serializer.dumps(value)
    except Exception as e:
        raise serialize_error(e, value, serializer.name, key, path) from e


class _Shelf(shelve.Shelf):  # type: ignore[type-arg]
    """A :class:`shelve.Shelf` whose values go through a hutch serializer,
    with errors naming the key and the file."""

    cache: builtins.dict[str, Any]
    dict: Any  # the database, named as shelve names it
    writeback: bool

    def __init__(self, db: Any, writeback: bool, serializer: Serializer,
                 path: Path) -> None:
        super().__init__(db, writeback=writeback)
        self._loads = serializer.loads
        self._serializer = serializer
        self._path = path

    def __getitem__(self, key: str) -> Any:
        try:
            return self.cache[key]
        except KeyError:
            pass
        data = self.dict[key.encode('utf-8')]  # KeyError when absent
        try:
            value = self._loads(data)
        except Exception as e:
            raise deserialize_error(e, key, self._path) from e
        if self.writeback:
            self.cache[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.store(key, value, serialize(self._serializer, key, value,
                                         self._path))

    def store(self, key: str, value: Any, data: bytes) -> None:
        """Store ``value`` under ``key`` as ``data`` (its bytes, made with
        :func:`serialize` before the shelf was opened)."""
        if self.writeback:
            self.cache[key] = value
        self.dict[key.encode('utf-8')] = data

    def __del__(self) -> None:
        # closing is the session's job: a shelf dropped in a forked child
        # must not write the parent's items back
        pass


class Session:
    """A shelf opened under its lock: :attr:`shelf` until :meth:`close`.

    :param fd: the descriptor holding the lock on the main file
    """

    def __init__(self, fd: int, shelf: _Shelf, path: Path) -> None:
        self.fd = fd
        self.shelf = shelf
        self.path = path
        self.pid = _process.pid

    def close(self) -> None:
        """Write back, close the database and let go of the lock.  In a
        process forked from the opener, only let go of this process's copy
        of the descriptor: the database and the lock are the parent's."""
        fd, self.fd = self.fd, -1
        if fd < 0:
            return
        try:
            if self.pid == _process.pid:
                try:
                    self.shelf.close()
                except _DB_ERRORS as e:
                    raise PersistableError(f'cannot close shelf: {e}',
                                           path=self.path) from e
        finally:
            os.close(fd)


def _lock(main: Path, shared: bool, create: bool, timeout: Optional[float],
          shelf_path: Path) -> Optional[int]:
    """A descriptor of ``main`` holding its ``flock``; ``None`` when it does
    not exist and ``create`` is off."""
    flags = _OPEN_FLAGS | (os.O_CREAT if create else 0)
    while True:
        try:
            fd = os.open(main, flags, 0o666)
        except FileNotFoundError:
            if not create:
                return None
            main.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError as e:  # ELOOP: the main file is a symlink
            raise PersistableError(f'cannot open shelf: {e.strerror}',
                                   path=main) from e
        try:
            wait_for_flock(fd, shared, timeout, shelf_path)
            named = os.stat(main, follow_symlinks=False)
        except FileNotFoundError:
            named = None
        except BaseException:
            os.close(fd)
            raise
        held = os.fstat(fd)
        if named is not None and \
                (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            return fd
        # cleared (and maybe made again) while we waited: lock what is there
        os.close(fd)


def _open_db(path: Path, kind: str, write: bool) -> Any:
    if kind == 'dbm.dumb':
        return open_safe_dumb(str(path), 'c' if write else 'r')
    module = importlib.import_module(kind)
    # dbm.gnu locks its file itself unless told not to: the lock is ours
    nolock = 'u' if kind == 'dbm.gnu' else ''
    return module.open(str(path), ('w' if write else 'r') + nolock)


def open_session(path: Path, write: bool, create: bool,
                 timeout: Optional[float], writeback: bool,
                 serializer: Serializer) -> Optional[Session]:
    """Lock and open the shelf at ``path``.

    :param write: lock it exclusively and open it for writing; otherwise
        share the lock with other readers (a shelf without its index is
        then opened for writing if ``create`` is on, to write the index)
    :param create: make the shelf if there is none (new shelves are
        ``dbm.dumb``); without it, ``None`` when there is none
    :raises CorruptDataError: when the files are there but unreadable
    """
    kind = backend_of(path)
    if kind == '':
        raise CorruptDataError('not a dbm database', path=path)
    if kind is None:
        if not create:
            return None
        kind, write = 'dbm.dumb', True
    main = main_file(path, kind)
    if kind == 'dbm.dumb' and not os.path.exists(f'{path}.dir'):
        write = write or create
    fd = _lock(main, not write, write and create, timeout, path)
    if fd is None:
        return None
    try:
        try:
            db = _open_db(path, kind, write)
        except FileNotFoundError:
            if kind == 'dbm.dumb':
                raise CorruptDataError('shelf index without its data file',
                                       path=path) from None
            raise
        except PersistableError:
            raise
        except OSError as e:  # no permission, a full disk ...
            raise PersistableError(f'cannot open shelf: {e}',
                                   path=path) from e
        except Exception as e:  # a back end that can't read the files
            raise CorruptDataError(f'cannot open shelf: {e!r}',
                                   path=path) from e
        return Session(fd, _Shelf(db, writeback and write, serializer, path),
                       path)
    except BaseException:
        os.close(fd)
        raise
