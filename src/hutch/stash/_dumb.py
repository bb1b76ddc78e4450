"""``dbm.dumb`` made safe against kills, full disks and damaged files.

Python's pure-Python ``dbm`` back end keeps values in a ``.dat`` file and an
index of ``key -> (offset, size)`` lines in a ``.dir`` text file.  As shipped
it overwrites a value in place when the new one fits (a kill leaves a torn
value), and it rewrites the index by renaming it away and writing a new one
(a kill leaves no index: every key is lost).

:class:`SafeDumbDatabase` keeps the file format -- ``dbm.dumb`` and
:func:`shelve.open` still read what it writes -- and changes how it writes:

* values are only ever **appended** to ``.dat``, so every offset an index
  line holds stays valid whatever happens after it was written;
* each store **appends one index line** to ``.dir`` once its value is
  written (a later line for a key wins, as ``dbm.dumb`` reads it), so a
  store that returned is on disk, closed or not -- a process killed or
  exiting without ``close()`` loses nothing;
* a delete, or an index that has grown mostly stale, **replaces the index
  atomically** (:func:`hutch._files.atomic_writer`);
* a write that fails part way (a full disk) is **cut back** off the file, so
  nothing half written stays to make the next write fail too;
* the index is **checked** as it is read: an entry pointing outside
  ``.dat``, a line cut short or one that does not parse raises
  :class:`~hutch.errors.CorruptDataError` naming the file, instead of
  reading (or allocating) whatever the entry says.

A ``.dat`` without a ``.dir`` is an empty database whose first index was
never written (its creator was killed first).

The caller excludes other writers (:class:`~hutch.stash.shelve.ShelveStash`
locks the ``.dat`` file); this module does no locking of its own.
"""

from __future__ import annotations

import ast
import dbm.dumb
import os
import re
from collections.abc import Iterator, MutableMapping
from typing import Any, Union

from .. import _process
from .._files import _write_all, atomic_writer
from ..errors import CorruptDataError

__all__ = ['SafeDumbDatabase', 'open_safe_dumb']

Bytesish = Union[bytes, bytearray, str]

_BLOCK = 512  # dbm.dumb aligns each value to this many bytes
_MAX_LINE = 1 << 20  # longest index line parsed as Python
_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)

# An index line as dbm.dumb writes it for a key whose repr needs no escape:
# 'key', (offset, size).  Other lines are read as dbm.dumb reads them.
_PLAIN_INDEX_LINE = re.compile(r"'([^'\\]*)', \((\d+), (\d+)\)").fullmatch


def _append(path: bytes, data: bytes, align: int, mode: int,
            create: bool) -> tuple[int, int]:
    """Write ``data`` at the end of ``path`` (at a multiple of ``align``);
    ``(offset, old end)``.  A write that fails leaves the file as it was."""
    flags = os.O_WRONLY | _CLOEXEC | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, mode)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        pos = -(-end // align) * align
        try:
            if pos > end:
                _write_all(fd, b'\0' * (pos - end))
            _write_all(fd, data)
        except BaseException:
            os.ftruncate(fd, end)
            raise
        return pos, end
    finally:
        os.close(fd)


def _cut(path: bytes, size: int) -> None:
    """Cut the file at ``path`` back to ``size`` bytes."""
    fd = os.open(path, os.O_WRONLY | _CLOEXEC)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def _line(key: bytes, entry: tuple[int, int]) -> bytes:
    # the line dbm.dumb writes and parses: repr(key), (pos, size)
    return f'{key.decode("Latin-1")!r}, {entry!r}\n'.encode('Latin-1')


def _as_bytes(key: Bytesish) -> bytes:
    return key.encode('utf-8') if isinstance(key, str) else bytes(key)


class SafeDumbDatabase(MutableMapping[bytes, bytes]):
    """A ``dbm.dumb`` database that a kill, a full disk or an exit without
    ``close()`` cannot corrupt or empty (see the module).

    Written on the file format alone -- ``name.dat`` holds the values at
    512-byte boundaries, ``name.dir`` one ``repr`` line ``'key', (offset,
    size)`` per store, the last line for a key winning -- and on no private
    part of :mod:`dbm.dumb`, whose readers and writers it interoperates with.
    """

    _index: Any  # key -> (offset, size); None once closed

    def __init__(self, filebasename: str, mode: int, flag: str = 'c') -> None:
        self._pid = _process.pid
        self._lines = 0        # index lines on disk
        self._rewrite = False  # the index on disk must be written afresh
        base = os.fsencode(filebasename)
        self._dirfile = base + b'.dir'
        self._datfile = base + b'.dat'
        self._mode = mode
        self._readonly = flag == 'r'
        self._index = None
        self._create(flag)
        self._update(flag)

    def _verify_open(self) -> None:
        if self._index is None:
            raise dbm.dumb.error('the database has already been closed')

    def __getitem__(self, key: Bytesish) -> bytes:
        self._verify_open()
        pos, size = self._index[_as_bytes(key)]  # KeyError when absent
        with open(self._datfile, 'rb') as f:
            f.seek(pos)
            return f.read(size)

    def __contains__(self, key: object) -> bool:
        self._verify_open()
        if not isinstance(key, (bytes, bytearray, str)):
            return False
        return _as_bytes(key) in self._index

    def __iter__(self) -> Iterator[bytes]:
        self._verify_open()
        return iter(list(self._index))

    def __len__(self) -> int:
        self._verify_open()
        return len(self._index)

    def keys(self) -> list[bytes]:  # type: ignore[override]
        """The keys, as :mod:`dbm.dumb` gives them: a list of bytes."""
        self._verify_open()
        return list(self._index)

    def overlaps(self) -> list[tuple[bytes, bytes]]:
        """Pairs of keys whose values share bytes of ``.dat`` (the first
        one's starts first): values are only appended, each in its own
        bytes, so such a pair is an index that was damaged or edited.  One
        sort of the index; no value is read."""
        self._verify_open()
        spans = sorted((pos, pos + size, key)
                       for key, (pos, size) in self._index.items() if size)
        pairs = []
        reach, owner = -1, b''
        for start, end, key in spans:
            if start < reach:
                pairs.append((owner, key))
            if end > reach:
                reach, owner = end, key
        return pairs

    def __enter__(self) -> SafeDumbDatabase:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _create(self, flag: str) -> None:
        if flag in ('c', 'n'):
            os.close(os.open(self._datfile, os.O_WRONLY | os.O_CREAT
                             | _CLOEXEC, self._mode))
        elif not os.path.exists(self._datfile):
            raise FileNotFoundError(2, 'no such database',
                                    os.fsdecode(self._datfile))
        if flag == 'n':
            _cut(self._datfile, 0)
            self._index = {}
            self._rewrite = True

    def _update(self, flag: str) -> None:
        """Read the index, checking every entry against the ``.dat`` size.

        Plain lines are read by a pattern rather than parsed as Python: with
        the shelf reopened for every call, a ``literal_eval`` per key was
        most of the cost of a call.
        """
        self._modified = False
        index: dict[bytes, tuple[int, int]] = {}
        self._index = index
        if flag == 'n':
            self._rewrite = True
            return
        size = os.stat(self._datfile).st_size
        try:
            f = open(self._dirfile, 'rb')
        except FileNotFoundError:
            # the first index was never written: an empty database
            self._rewrite = not self._readonly
            return
        with f:
            for number, raw in enumerate(iter(
                    lambda: f.readline(_MAX_LINE + 1), b''), 1):
                if not raw.endswith(b'\n'):
                    # appends are single writes, cut back when they fail:
                    # a line cut short is damage, not a store in progress
                    self._corrupt(number, 'line too long'
                                  if len(raw) > _MAX_LINE else 'cut short')
                key, entry = self._parse(number, raw.decode('Latin-1'))
                pos, length = entry
                if pos < 0 or length < 0 or pos + length > size:
                    self._corrupt(number, f'entry {entry} lies outside the '
                                  f'{size} bytes of the data file')
                index[key] = entry
                self._lines += 1

    def _parse(self, number: int, line: str) -> tuple[bytes, tuple[int, int]]:
        line = line.rstrip()
        plain = _PLAIN_INDEX_LINE(line)
        if plain is not None:
            key, pos, length = plain.groups()
            return key.encode('Latin-1'), (int(pos), int(length))
        try:
            key, entry = ast.literal_eval(line)
        except (SyntaxError, ValueError, TypeError, MemoryError,
                RecursionError) as e:
            self._corrupt(number, f'not an index line ({type(e).__name__})')
        if not isinstance(key, str) or not isinstance(entry, tuple) or \
                len(entry) != 2 or \
                not all(type(n) is int for n in entry):
            self._corrupt(number, 'not an index line')
        return key.encode('Latin-1'), entry

    def _corrupt(self, number: int, what: str) -> Any:
        raise CorruptDataError(f'damaged shelf index, line {number}: {what}',
                               path=os.fsdecode(self._dirfile))

    def __setitem__(self, key: Bytesish, val: Bytesish) -> None:
        if self._readonly:
            raise dbm.dumb.error('The database is opened for reading only')
        if isinstance(key, str):
            key = key.encode('utf-8')
        elif not isinstance(key, (bytes, bytearray)):
            raise TypeError('keys must be bytes or strings')
        if isinstance(val, str):
            val = val.encode('utf-8')
        elif not isinstance(val, (bytes, bytearray)):
            raise TypeError('values must be bytes or strings')
        self._verify_open()
        key = bytes(key)
        pos, end = _append(self._datfile, bytes(val), _BLOCK, self._mode,
                           False)
        entry = (pos, len(val))
        old = self._index.get(key)
        self._index[key] = entry
        try:
            if self._rewrite:
                self._commit()
            else:
                _append(self._dirfile, _line(key, entry), 1, self._mode, True)
                self._lines += 1
        except BaseException:
            if old is None:
                del self._index[key]
            else:
                self._index[key] = old
            _cut(self._datfile, end)
            raise

    def __delitem__(self, key: Bytesish) -> None:
        if self._readonly:
            raise dbm.dumb.error('The database is opened for reading only')
        if isinstance(key, str):
            key = key.encode('utf-8')
        self._verify_open()
        old = self._index.pop(key)  # KeyError when absent
        self._rewrite = True
        try:
            self._commit()
        except BaseException:
            self._index[key] = old
            raise

    def _commit(self) -> None:
        """Write the index afresh if it must be (a delete, a damaged tail, a
        new database) or is mostly stale lines; a no-op otherwise."""
        index = self._index
        if index is None or self._readonly or self._pid != _process.pid:
            return
        if not self._rewrite and self._lines <= 2 * len(index) + 64:
            return
        with atomic_writer(os.fsdecode(self._dirfile)) as f:
            f.write(b''.join(_line(k, e) for k, e in index.items()))
        self._lines = len(index)
        self._rewrite = False

    sync = _commit

    def close(self) -> None:
        try:
            self._commit()
        finally:
            self._index = None

    def __del__(self) -> None:
        # every store is on disk when it returns: nothing to do here (and
        # at interpreter exit, nothing that could fail half way)
        pass


def open_safe_dumb(path: str, flag: str = 'c', mode: int = 0o666) -> Any:
    """Open (``'r'``, ``'w'``) or create (``'c'``) a crash-safe dumb db."""
    if flag not in ('r', 'w', 'c', 'n'):
        raise ValueError(f"flag must be one of 'r', 'w', 'c', 'n', got {flag!r}")
    return SafeDumbDatabase(path, mode & ~_UMASK, flag=flag)


def _read_umask() -> int:
    # os has no getter: set and restore, once, while this module loads
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
