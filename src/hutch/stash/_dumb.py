"""``dbm.dumb`` made safe against a process killed mid-write.

Python's pure-Python ``dbm`` back end keeps values in a ``.dat`` file and an
index of ``key -> (offset, size)`` in a ``.dir`` text file.  As shipped it
is not crash safe: it overwrites a value in place when the new one fits
(a kill leaves a torn value), appends index lines one by one (a kill leaves
a half line the next open cannot parse) and rewrites the index by renaming
it away and writing a new one (a kill leaves no index: every key is lost).

:class:`SafeDumbDatabase` keeps the file format -- ``dbm.dumb`` and
:func:`shelve.open` still read what it writes -- and changes two things:

* values are only ever **appended** to ``.dat``, so every offset an index
  holds stays valid whatever happens after it was written;
* the index is **replaced atomically** (:func:`hutch._files.atomic_writer`)
  when the database is closed or synced, never edited in place.

A kill at any moment therefore leaves the old index (with some unreferenced
bytes at the end of ``.dat``) or the new one.  The price is that ``.dat``
grows with every overwrite; clearing the shelf reclaims it.
"""

from __future__ import annotations

import ast
import dbm.dumb
import os
import re
from typing import Any, Union

from .._files import atomic_writer

__all__ = ['SafeDumbDatabase', 'open_safe_dumb']

Bytesish = Union[bytes, bytearray, str]

# the stubs show only the public face of dbm.dumb's database class; this
# module works with its private parts, so it sees the class untyped
_DumbDatabase: Any = dbm.dumb._Database

# An index line as dbm.dumb writes it for a key whose repr needs no escape:
# 'key', (offset, size).  Other lines are read as dbm.dumb reads them.
_PLAIN_INDEX_LINE = re.compile(r"'([^'\\]*)', \((\d+), (\d+)\)").fullmatch


class SafeDumbDatabase(_DumbDatabase):  # type: ignore[misc]
    """A ``dbm.dumb`` database that a SIGKILL cannot corrupt (see module)."""

    def _update(self, flag: str) -> None:
        """Read the index, as ``dbm.dumb`` does but without parsing each
        plain line as Python: with the shelf reopened for every call, a
        ``literal_eval`` per key was most of the cost of a dump."""
        self._modified = False
        index: dict[bytes, tuple[int, int]] = {}
        self._index = index
        try:
            f = open(self._dirfile, encoding='Latin-1')
        except OSError:
            if flag not in ('c', 'n'):
                raise
            self._modified = True
            return
        with f:
            for line in f:
                line = line.rstrip()
                plain = _PLAIN_INDEX_LINE(line)
                if plain is not None:
                    key, pos, size = plain.groups()
                    index[key.encode('Latin-1')] = (int(pos), int(size))
                else:
                    key, pos_and_size = ast.literal_eval(line)
                    index[key.encode('Latin-1')] = pos_and_size

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
        self._modified = True
        # never in place, never an index line appended: the index on disk
        # changes only in _commit, all at once
        self._index[bytes(key)] = self._addval(val)

    def _commit(self) -> None:
        if self._index is None or not self._modified:
            return
        with atomic_writer(os.fsdecode(self._dirfile)) as f:
            for key, pos_and_size in self._index.items():
                # the line dbm.dumb writes and parses: repr(key), (pos, size)
                line = f'{key.decode("Latin-1")!r}, {pos_and_size!r}\n'
                f.write(line.encode('Latin-1'))
        self._modified = False

    sync = _commit


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
