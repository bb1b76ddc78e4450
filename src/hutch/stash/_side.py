"""Side files: where a database stash keeps values too large for its table.

A large value in a table costs twice on the way in (SQLite writes it to the
write-ahead log, then again into the database) and once more on the way out
(a ``bytes`` copy before the value is built).  Measured with a 100 MB numpy
array, SQLite's incremental blob I/O took 860 ms to write and 100 ms to
read, against 57 ms and 36 ms for ``np.save`` and ``np.load``, so such
values live in files of their own instead, in a folder beside the database
(``<database>.large/<table>/``), and their row holds the file's name as
text where small values hold bytes.

The rules that keep them consistent with the table:

* a side file is written (atomically, under a name never used before)
  while the writer holds the database's write lock, before the row that
  names it commits, so a row never names a file that was not complete;
* the file a row named before it was replaced or deleted is listed, by a
  trigger in the same transaction, in an *orphans* table; writers remove
  the listed files after they commit;
* :meth:`SideFiles.sweep` (run by ``clear()``, under the write lock)
  removes every file no row names: those of writers killed before their
  commit, and their temporary files.

A reader that finds its file gone (replaced between its select and its
open) selects again.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._files import atomic_write, is_temp_name, open_regular
from .._layout import Chunk

__all__ = ['SideFiles', 'LARGE', 'is_large', 'side_folder']

LARGE = 1 << 20
"""Values of at least this many bytes (or holding out-of-band buffers) are
kept in side files."""

_SUFFIX = '.value'


def is_large(chunks: list[Chunk]) -> bool:
    """Whether an encoded value belongs in a side file."""
    # one chunk is the bytes a serializer's dumps gave: len() counts bytes
    return len(chunks) > 1 or len(chunks[0]) >= LARGE


class SideFiles:
    """The folder of side files of one table.

    :param folder: the folder (made on the first write)
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._dir = os.fspath(folder)

    def exists(self) -> bool:
        """Whether a large value was ever stored."""
        return os.path.isdir(self._dir)

    def write(self, key: str, chunks: list[Chunk], durable: bool) -> str:
        """Write ``chunks`` to a new file; its name, which the row is to hold.

        :raises DiskFullError: naming the key, when there is no room
        """
        name = secrets.token_hex(16) + _SUFFIX
        path = os.path.join(self._dir, name)
        try:
            atomic_write(path, chunks, durable, key=key)
        except FileNotFoundError:
            os.makedirs(self._dir, exist_ok=True)
            atomic_write(path, chunks, durable, key=key)
        return name

    def path_of(self, name: str) -> str:
        """The path of side file ``name`` (a name the table holds)."""
        if os.sep in name or name != os.path.basename(name) or \
                not name.endswith(_SUFFIX):
            raise ValueError(f'not a side file name: {name!r}')
        return os.path.join(self._dir, name)

    def open(self, name: str) -> Any:
        """Side file ``name``, open for reading (unbuffered): a regular
        file, never reached through a link nor waited on as a FIFO.

        :raises FileNotFoundError: when it is gone
        :raises ForeignFileError: when something else stands in its place
        """
        return open_regular(self.path_of(name))

    def remove(self, names: Iterable[str]) -> None:
        """Remove the side files ``names`` (those already gone are fine)."""
        for name in names:
            try:
                os.unlink(self.path_of(name))
            except FileNotFoundError:
                pass

    def sweep(self, keep: Iterable[str]) -> int:
        """Remove every side file not in ``keep``, and temporary files;
        return how many went.  Only call it holding the write lock."""
        wanted = set(keep)
        try:
            names = os.listdir(self._dir)
        except FileNotFoundError:
            return 0
        gone = [n for n in names
                if (n.endswith(_SUFFIX) and n not in wanted)
                or is_temp_name(n)]
        for name in gone:
            try:
                os.unlink(os.path.join(self._dir, name))
            except FileNotFoundError:
                pass
        return len(gone)

    def __repr__(self) -> str:
        return f'SideFiles({self._dir!r})'


def side_folder(database: Path, table: str) -> Path:
    """The folder of the side files of ``table`` in ``database``."""
    return database.with_name(database.name + '.large') / table

