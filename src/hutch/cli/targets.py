"""What the ``hutch`` command opens: a *target*, one stash on disk.

A target is a :class:`~hutch.stash.directory.DirectoryStash` folder, a
:class:`~hutch.stash.sqlite.SqliteStash` file, a zip file
(:class:`~hutch.stash.zip.ZipStash`) or a ``dbm`` shelf
(:class:`~hutch.stash.shelve.ShelveStash`).  Each target gives the stored
*bytes* of a key, so the command shows values written with any serializer,
and reads without writing: nothing on disk changes unless ``rm``, ``clear``
or ``check --fix`` is run.  :mod:`hutch.cli.detect` tells the kinds apart;
:mod:`hutch.cli.kinds` has one target class per kind.
"""

from __future__ import annotations

import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from ..errors import PersistableError

if TYPE_CHECKING:
    from ..stash.base import CloseableStash
    from ..stash.check import CheckReport

__all__ = ['DEFAULT_PATTERN', 'KINDS', 'FolderTarget', 'Options', 'Target',
           'TargetError']

KINDS = ('directory', 'sqlite', 'zip', 'shelve')
"""The kinds of stash the command opens, as ``--kind`` spells them."""

DEFAULT_PATTERN = '{name}.dat'
"""The pattern a :class:`~hutch.stash.directory.DirectoryStash` (and the
original) uses unless told otherwise."""


class TargetError(PersistableError):
    """The command can't open or use what it was pointed at."""


@dataclass(frozen=True)
class Options:
    """How to open a target, from the command line."""

    kind: Optional[str] = None
    #: a directory stash's file name pattern (``None``: from its files)
    pattern: Optional[str] = None
    table: Optional[str] = None
    shard: Optional[int] = None
    #: the command writes (else a target opens its data read-only)
    write: bool = False
    #: how to reach the file system of a URL (may hold secrets)
    storage_options: Optional[Mapping[str, Any]] = None


class Target(ABC):
    """One stash on disk, as the command sees it.

    Each kind opens :attr:`stash` -- the stash class that wrote the data,
    giving raw bytes -- in its constructor; reads and writes go through it.
    """

    kind: ClassVar[str]
    stash_class: ClassVar[str]
    writable: ClassVar[bool] = True
    #: what ``hutch info`` calls the room taken, and one unit of storage
    stored_as: ClassVar[tuple[str, str]] = ('disk', 'file')
    #: the serializer the kind always uses, when it has one
    serializer_hint: ClassVar[Optional[str]] = None
    #: the stash the data is read and written through
    stash: CloseableStash

    #: the file, folder or URL that messages name
    place: str | os.PathLike[str]

    @abstractmethod
    def __init__(self, path: Path, options: Options) -> None:
        self.path = path
        self.place = path
        self.options = options

    def location(self) -> tuple[str, str]:
        """What ``hutch info`` calls the stash's place, and the place."""
        return 'path', os.fspath(self.path.resolve())

    def keys(self) -> list[str]:
        """Every key, in the stash's own order."""
        return list(self.stash.keys())

    def raw(self, key: str, limit: Optional[int] = None) -> Optional[bytes]:
        """The bytes stored under ``key``; ``None`` when it is absent.

        :param limit: a kind whose reads expand the stored data (a zip
            entry) reads at most one byte more than this
        """
        data = self.stash.load(key)
        return data if isinstance(data, bytes) else None

    def missing(self, key: str) -> TargetError:
        """The error for a ``key`` this stash does not have."""
        return TargetError(f'no key {key!r} in this {self.kind} stash',
                           path=self.place)

    def entry(self, key: str) -> tuple[Optional[int], Optional[float]]:
        """The stored size in bytes and modification time of ``key``."""
        data = self.raw(key)
        return (None if data is None else len(data)), None

    def where(self, key: str) -> str | os.PathLike[str]:
        """The file (or object) that holds ``key``, for messages."""
        return self.place

    def files(self) -> Iterator[Path]:
        """Every file the stash keeps its data in."""
        if self.path.is_file():
            yield self.path

    def stored(self) -> tuple[int, int]:
        """The bytes the stash's regular files take, and how many files
        there are; links and FIFOs are left out (and are not followed)."""
        total = count = 0
        for path in self.files():
            try:
                st = path.lstat()
            except FileNotFoundError:  # removed meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                count += 1
        return total, count

    def details(self) -> list[tuple[str, str]]:
        """Facts about this kind of stash worth showing in ``hutch info``."""
        return []

    def check(self, fix: bool = False) -> Optional[CheckReport]:
        """What the stash's own check finds in its store, leaving values
        unread (see :meth:`hutch.Stash.check`); ``None`` for a kind whose
        stash has no check of its own.

        :param fix: remove what is safe to remove (what holds no data)
        """
        return None

    def check_writable(self) -> None:
        """Raise :class:`TargetError` unless this kind can be written."""
        if not self.writable:
            raise TargetError(f'a {self.kind} stash is read-only',
                              path=self.place)

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        self.check_writable()
        present = bool(self.stash.exists(key))
        self.stash.delete(key)
        return present

    def clear(self) -> None:
        """Remove every key."""
        self.check_writable()
        self.stash.clear()

    def close(self) -> None:
        """Let go of open files."""
        self.stash.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FolderTarget(Target):
    """A folder stash, on a disk or under a prefix of object storage: the
    rules both share.

    Its file name pattern and shard count were worked out by one rule
    (:mod:`hutch.cli.folders`), and the files of a ``dbm`` shelf beside its
    own are the shelf's, never keys: they are not listed, shown, removed or
    cleared.  A subclass sets :attr:`layout`, :attr:`pattern`,
    :attr:`shard` and :attr:`stash`, and says which keys would name a
    shelf's file (:meth:`_shelf_of`).
    """

    kind = 'directory'
    stash_class = 'DirectoryStash'
    #: what :func:`hutch.cli.folders.layout_of` found
    layout: Any
    pattern: str
    shard: int

    @abstractmethod
    def _shelf_of(self, key: str) -> Optional[str]:
        """The shelf whose file the stash would read as ``key``'s, if any."""

    def _shelf_note(self, shelf: str) -> str:
        """What ``hutch info`` says of a shelf beside the stash's files."""
        return f'{shelf}, a dbm shelf, not a key'

    def keys(self) -> list[str]:
        keys = list(self.stash.keys())
        if self.layout.shelves:
            keys = [k for k in keys if self._shelf_of(k) is None]
        return keys

    def raw(self, key: str, limit: Optional[int] = None) -> Optional[bytes]:
        return None if self._shelf_of(key) else super().raw(key, limit)

    def delete(self, key: str) -> bool:
        return False if self._shelf_of(key) else super().delete(key)

    def clear(self) -> None:
        if not self.layout.shelves:
            super().clear()
            return
        for key in self.keys():  # the shelves' files stay
            self.stash.delete(key)

    def details(self) -> list[tuple[str, str]]:
        how = ' (worked out from the file names)' if self.layout.inferred \
            else ''
        rows = [('pattern', self.pattern + how)]
        if self.shard:
            rows.append(('shards', str(self.shard)))
        rows.extend(('shelf', self._shelf_note(shelf))
                    for shelf in self.layout.shelves)
        return rows
