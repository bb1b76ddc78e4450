"""What the ``hutch`` command can open, and how it tells which is which.

A *target* is one stash on disk seen by the command: a
:class:`~hutch.stash.directory.DirectoryStash` folder, a
:class:`~hutch.stash.sqlite.SqliteStash` file, a zip file
(:class:`~hutch.stash.zip.ZipStash`) or a ``dbm`` shelf
(:class:`~hutch.stash.shelve.ShelveStash`).  Each target gives the stored
*bytes* of a key, so the command shows values written with any serializer,
and reads without writing: nothing on disk changes unless ``rm`` or
``clear`` is run.

Kinds are told apart by content, not by name:

* a folder is a directory stash when it is empty, holds files that match
  the pattern (``*.dat`` by default), or holds only shard folders (``00``,
  ``01`` ...; the shard count is worked out unless ``--shard`` gives it);
* a file is SQLite when its first 16 bytes are SQLite's header, and a zip
  when it starts with a zip signature;
* a path is a shelf when :func:`dbm.whichdb` recognises it, or it has the
  files of a ``dbm.dumb`` shelf (its index may be missing or damaged), with
  or without the extension its back end added (``.dat``, ``.dir``, ``.db``
  ...).
"""

from __future__ import annotations

import dbm
import os
import sqlite3
import stat
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from ..errors import PersistableError
from ..stash._shelf import backend_of

if TYPE_CHECKING:
    from ..stash.base import CloseableStash

__all__ = ['KINDS', 'Options', 'Target', 'TargetError', 'detect_kind',
           'open_target']

KINDS = ('directory', 'sqlite', 'zip', 'shelve')
"""The kinds of stash the command opens, as ``--kind`` spells them."""

SQLITE_HEADER = b'SQLite format 3\x00'
ZIP_HEADERS = (b'PK\x03\x04', b'PK\x05\x06')
SHELF_SUFFIXES = ('.dat', '.dir', '.bak', '.db', '.pag')


class TargetError(PersistableError):
    """The command can't open or use what it was pointed at."""


@dataclass(frozen=True)
class Options:
    """How to open a target, from the command line."""

    kind: Optional[str] = None
    pattern: str = '{name}.dat'
    table: Optional[str] = None
    shard: Optional[int] = None
    #: the command writes (else a target opens its data read-only)
    write: bool = False


def _head(path: Path, n: int = 16) -> bytes:
    with open(path, 'rb') as f:
        return f.read(n)


def _pattern_suffix(pattern: str) -> str:
    return pattern.rpartition('{name}')[2]


def shard_folders(path: Path) -> list[str]:
    """The names of a sharded directory stash's shard folders, if it is one.

    Shard folders are named by a hex number, all of one width; a folder
    holding anything else is not sharded.
    """
    with os.scandir(path) as it:
        entries = [(e.name, e.is_dir()) for e in it
                   if not e.name.startswith('.')]
    names = [n for n, is_dir in entries if is_dir]
    if not names or len(names) != len(entries) or \
            len({len(n) for n in names}) != 1 or \
            not all(c in '0123456789abcdef' for n in names for c in n):
        return []
    return sorted(names)


def shelf_base(path: Path) -> Optional[Path]:
    """The name a shelf at ``path`` was opened with, if it is one.

    Named by its base name, a shelf whose index is missing (a lone
    ``.dat``) is still a shelf; named by one of its files, it takes a
    recognised database or an index beside it, since a lone ``x.dat`` is
    more likely one file of a directory stash.
    """
    try:
        if backend_of(path):  # None: no shelf; '': not a dbm file
            return path
        if path.suffix in SHELF_SUFFIXES:
            base = path.with_suffix('')
            if dbm.whichdb(os.fspath(base)) or \
                    os.path.exists(f'{base}.dir'):
                return base
    except OSError:
        pass
    return None


def shelf_files_base(path: Path) -> Optional[Path]:
    """The name of a shelf at ``path`` that :func:`dbm.whichdb` can't
    recognize (its index damaged), judged by the files' names alone."""
    bases = [path]
    if path.suffix in SHELF_SUFFIXES:
        bases.append(path.with_suffix(''))
    for base in bases:
        if any(os.path.isfile(f'{base}{suffix}') for suffix in SHELF_SUFFIXES):
            return base
    return None


def _special(path: Path) -> Optional[str]:
    """What ``path`` is when it is neither a folder nor a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return 'a FIFO' if stat.S_ISFIFO(mode) else \
        'a device' if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
        'a socket'


def detect_kind(path: Path, options: Options = Options()) -> str:
    """The kind of stash at ``path`` (one of :data:`KINDS`).

    :raises TargetError: when ``path`` is missing or nothing hutch knows
    """
    special = _special(path)
    if special:  # opening a FIFO would wait for a writer
        raise TargetError(f'{special}, not a stash', path=path)
    if not os.path.lexists(path) and shelf_base(path) is None:
        if shelf_files_base(path) is not None:
            return 'shelve'  # damaged: ShelveStash says what is wrong
        raise TargetError('no such file or folder', path=path)
    if path.is_dir():
        suffix = _pattern_suffix(options.pattern)
        with os.scandir(path) as it:
            # data files never start with a dot (keys that do are encoded)
            names = [e.name for e in it if not e.name.startswith('.')]
        if not names or any(n.endswith(suffix) for n in names) or \
                shard_folders(path):
            return 'directory'
        raise TargetError(
            f'a folder with no {suffix or "data"} files, so not a directory '
            'stash (give --kind directory to open it anyway)', path=path)
    if path.is_file():
        try:
            head = _head(path)
        except OSError as e:
            raise TargetError(f'cannot read: {e.strerror}', path=path) from e
        if head == SQLITE_HEADER:
            return 'sqlite'
        if head.startswith(ZIP_HEADERS):
            return 'zip'
    if shelf_base(path) is not None:
        return 'shelve'
    if path.is_file() and path.name.endswith(_pattern_suffix(options.pattern)):
        raise TargetError(
            'one file of a directory stash, not a stash: give its folder, '
            f'and the key (e.g. hutch show {path.parent} KEY)', path=path)
    raise TargetError(
        'not a stash hutch knows (a folder of *.dat files, a SQLite file, '
        'a zip or a dbm shelf); give --kind to say which', path=path)


class Target(ABC):
    """One stash on disk, as the command sees it.

    Each kind opens :attr:`stash` -- the stash class that wrote the data,
    giving raw bytes -- in its constructor; reads and writes go through it.
    """

    kind: ClassVar[str]
    stash_class: ClassVar[str]
    writable: ClassVar[bool] = True
    #: the serializer the kind always uses, when it has one
    serializer_hint: ClassVar[Optional[str]] = None
    #: the stash the data is read and written through
    stash: CloseableStash

    @abstractmethod
    def __init__(self, path: Path, options: Options) -> None:
        self.path = path
        self.options = options

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

    def entry(self, key: str) -> tuple[Optional[int], Optional[float]]:
        """The stored size in bytes and modification time of ``key``."""
        data = self.raw(key)
        return (None if data is None else len(data)), None

    def where(self, key: str) -> Path:
        """The file that holds ``key``, for messages."""
        return self.path

    def files(self) -> Iterator[Path]:
        """Every file the stash keeps its data in."""
        if self.path.is_file():
            yield self.path

    def disk_bytes(self) -> int:
        """The bytes the stash takes on disk."""
        return sum(p.stat().st_size for p in self.files())

    def details(self) -> list[tuple[str, str]]:
        """Facts about this kind of stash worth showing in ``hutch info``."""
        return []

    def check_writable(self) -> None:
        """Raise :class:`TargetError` unless this kind can be written."""
        if not self.writable:
            raise TargetError(f'a {self.kind} stash is read-only',
                              path=self.path)

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


def open_target(path: str | os.PathLike[str],
                options: Options = Options()) -> Target:
    """The target at ``path``, of ``options.kind`` or of the detected kind."""
    from . import kinds  # the stash back ends load only when needed
    p = Path(path)
    kind = options.kind or detect_kind(p, options)
    if kind not in KINDS:
        raise TargetError(f'unknown kind {kind!r}; known: {", ".join(KINDS)}')
    if options.kind and not os.path.lexists(p) and \
            (kind != 'shelve' or shelf_files_base(p) is None):
        raise TargetError('no such file or folder', path=p)
    if kind in ('sqlite', 'zip') and p.is_dir():
        raise TargetError(f'a folder, not a {kind} file', path=p)
    return kinds.TARGETS[kind](p, options)


def sqlite_in_wal_mode(path: Path) -> bool:
    """Whether a SQLite file's header says it is in WAL mode."""
    try:
        head = _head(path, 20)
    except OSError as e:
        raise TargetError(f'cannot read: {e.strerror}', path=path) from e
    # bytes 18 and 19: the write and read format versions, 2 for WAL
    return head.startswith(SQLITE_HEADER) and head[18:20] == b'\x02\x02'


def sqlite_tables(path: Path) -> dict[str, list[str]]:
    """The tables of a SQLite file and their columns, read without writing."""
    from ..stash.sqlite import connect_read_only
    try:
        conn = connect_read_only(path)
        try:
            names = [r[0] for r in conn.execute(
                "select name from sqlite_master where type = 'table' "
                "and name not like 'sqlite_%' order by name")]
            tables = {
                name: [r[1] for r in conn.execute(
                    'select * from pragma_table_info(?)', (name,))]
                for name in names}
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise TargetError(f'cannot read SQLite file: {e}', path=path) from e
    return tables


def zip_entries(path: Path) -> list[zipfile.ZipInfo]:
    """The entries of a zip file."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.infolist()
    except zipfile.BadZipFile as e:
        raise TargetError(f'cannot read zip file: {e}', path=path) from e
