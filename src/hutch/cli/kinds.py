"""One :class:`~hutch.cli.targets.Target` per kind of stash on disk, and
:func:`open_target`, which picks the kind.

Each reads through the stash class that wrote the data, opened to give raw
bytes (``serializer='bytes'``), so keys decode exactly as the stash encodes
them and any serializer's output can be shown.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from .._files import is_temp_name
from .._urls import is_remote
from ..stash._shelf import backend_of
from ..stash._side import side_folder
from ..stash.check import CheckReport
from ..stash.directory import DirectoryStash
from ..stash.shelve import ShelveStash
from ..stash.sqlite import SqliteStash, connect_read_only
from ..stash.zip import ZipStash
from .detect import (
    SHELF_SUFFIXES,
    SQLITE_HEADER,
    detect_kind,
    read_head,
    shard_folders,
    shelf_base,
    shelf_files_base,
)
from .folders import data_names, folder_layout, shard_count
from .targets import KINDS, FolderTarget, Options, Target, TargetError

__all__ = ['TARGETS', 'open_target']


def sqlite_in_wal_mode(path: Path) -> bool:
    """Whether a SQLite file's header says it is in WAL mode."""
    try:
        head = read_head(path, 20)
    except OSError as e:
        raise TargetError(f'cannot read: {e.strerror}', path=path) from e
    # bytes 18 and 19: the write and read format versions, 2 for WAL
    return head.startswith(SQLITE_HEADER) and head[18:20] == b'\x02\x02'


def sqlite_tables(path: Path) -> dict[str, list[str]]:
    """The tables of a SQLite file and their columns, read without writing."""
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


class DirectoryTarget(FolderTarget):
    """A folder with one file per key (see :class:`FolderTarget`)."""

    stash: DirectoryStash

    def __init__(self, path: Path, options: Options) -> None:
        super().__init__(path, options)
        if not path.is_dir():
            raise TargetError('not a folder', path=path)
        self.layout = folder_layout(path, options.pattern)
        self.pattern = self.layout.pattern
        self.shard = self._shard_count(path, options.shard, self.pattern)
        self.stash = DirectoryStash(path, pattern=self.pattern,
                                    serializer='bytes', shard=self.shard)
        self._shelf_files = {
            os.fspath(path / f'{shelf}{end}'): shelf
            for shelf in self.layout.shelves for end in ('.dat', '.dir',
                                                         '.bak')}

    @staticmethod
    def _shard_count(path: Path, shard: Optional[int], pattern: str) -> int:
        """The shard count the folder was written with (0: not sharded)."""
        if shard is not None:
            return shard
        shards = {n: data_names(os.listdir(path / n))
                  for n in shard_folders(path)}
        if not shards:
            return 0
        return shard_count(shards, pattern, lambda count: len(DirectoryStash(
            path, pattern=pattern, shard=count).keys()), path)

    def _shelf_of(self, key: str) -> Optional[str]:
        if not self._shelf_files:
            return None
        return self._shelf_files.get(os.fspath(self.stash.key_to_path(key)))

    def missing(self, key: str) -> TargetError:
        shelf = self._shelf_of(key)
        if shelf is None:
            return super().missing(key)
        return TargetError(f'{key!r} is a dbm shelf in this folder, not a '
                           f'key: open it with hutch ls {self.path / shelf}',
                           path=self.path)

    def check(self, fix: bool = False) -> CheckReport:
        report = self.stash.check(fix=fix)
        report.items = len(self.keys())  # a shelf's file is no item
        return report

    def entry(self, key: str) -> tuple[Optional[int], Optional[float]]:
        try:  # the entry itself: a link is not followed
            st = self.stash.key_to_path(key).lstat()
        except FileNotFoundError:
            return None, None
        return st.st_size, st.st_mtime

    def where(self, key: str) -> Path:
        return self.stash.key_to_path(key)

    def files(self) -> Iterator[Path]:
        for folder, _, names in os.walk(self.path):
            for name in names:
                if not is_temp_name(name):
                    yield Path(folder, name)

    def _shelf_note(self, shelf: str) -> str:
        return (f'{super()._shelf_note(shelf)} (hutch ls '
                f'{self.path / shelf})')


class SqliteTarget(Target):
    """A SQLite file with a stash table."""

    kind = 'sqlite'
    stash_class = 'SqliteStash'

    def __init__(self, path: Path, options: Options) -> None:
        super().__init__(path, options)
        if not sqlite_in_wal_mode(path):
            # SqliteStash switches a file to WAL when it opens it: a write
            raise TargetError('a SQLite file not in WAL mode, so not one a '
                              'SqliteStash wrote; hutch leaves it alone',
                              path=path)
        self.table = self._pick_table(path, options.table)
        # reading opens it read-only: nothing changes on disk, not even the
        # WAL a killed writer left, and a read-only folder can be read
        self.stash = SqliteStash(path, table=self.table, serializer='bytes',
                                 read_only=not options.write)

    @staticmethod
    def _pick_table(path: Path, table: Optional[str]) -> str:
        # opening a stash on a missing table would create it: look first
        tables = sqlite_tables(path)
        names = ', '.join(tables) or 'none'
        stashes = [t for t, cols in tables.items() if cols == ['key', 'value']]
        if table is not None:
            if table not in stashes:
                raise TargetError(f'no stash table {table!r} in this SQLite '
                                  f'file (tables: {names})', path=path)
            return table
        if 'stash' in stashes:
            return 'stash'
        if len(stashes) == 1:
            return stashes[0]
        which = 'several stash tables' if stashes else 'no stash table'
        raise TargetError(f'a SQLite file with {which}; give --table '
                          f'(tables: {names})', path=path)

    def files(self) -> Iterator[Path]:
        for suffix in ('', '-wal', '-shm', '-journal'):
            p = Path(f'{self.path}{suffix}')
            if p.is_file():
                yield p
        side = side_folder(self.path, self.table)  # of large values
        if side.is_dir():
            yield from (p for p in side.iterdir() if p.is_file())

    def details(self) -> list[tuple[str, str]]:
        return [('table', self.table)]

    def check(self, fix: bool = False) -> CheckReport:
        return self.stash.check(fix=fix)


class ZipTarget(Target):
    """A zip file, read-only: one key per entry."""

    kind = 'zip'
    stash_class = 'ZipStash'
    writable = False

    def __init__(self, path: Path, options: Options) -> None:
        super().__init__(path, options)
        self.infos = {i.filename: i for i in zip_entries(path)}
        self.stash = ZipStash(path)

    def entry(self, key: str) -> tuple[Optional[int], Optional[float]]:
        info = self.infos.get(key)
        if info is None:
            return super().entry(key)
        try:
            mtime = dt.datetime(*info.date_time).timestamp()
        except ValueError:  # a DOS date with month or day 0
            mtime = None
        return info.file_size, mtime

    def raw(self, key: str, limit: Optional[int] = None) -> Optional[bytes]:
        """The entry's bytes; with ``limit``, no more than one byte over it
        are decompressed, whatever size the entry claims."""
        info = self.infos.get(key)
        if info is None or info.is_dir():
            return None
        try:
            with zipfile.ZipFile(self.path) as z, z.open(info) as f:
                return f.read() if limit is None else f.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                NotImplementedError, RuntimeError) as e:
            raise TargetError(f'cannot read zip entry: {e}',
                              path=self.path) from e

    def details(self) -> list[tuple[str, str]]:
        return [('entries', str(len(self.infos)))]

    def check(self, fix: bool = False) -> CheckReport:
        return self.stash.check(fix=fix)


class ShelveTarget(Target):
    """A ``dbm`` shelf, read and written through
    :class:`~hutch.stash.shelve.ShelveStash` (which holds the shelf's lock
    for each call, so the command never reads a half-made change)."""

    kind = 'shelve'
    stash_class = 'ShelveStash'

    def __init__(self, path: Path, options: Options) -> None:
        super().__init__(path, options)
        base = shelf_base(path) or shelf_files_base(path)
        if base is None:
            raise TargetError('not a dbm shelf', path=path)
        self.base = base
        self.backend = backend_of(base) or 'unknown'
        # reads must never make files: the shelf is only opened, never made
        self.stash = ShelveStash(base, writeback=False, serializer='bytes',
                                 create=False)

    def files(self) -> Iterator[Path]:
        stem = self.base.name
        with os.scandir(self.base.parent) as it:
            for entry in it:
                name = entry.name
                if entry.is_file() and (name == stem or (
                        name.startswith(stem + '.') and
                        name[len(stem):] in SHELF_SUFFIXES)):
                    yield Path(entry.path)

    def details(self) -> list[tuple[str, str]]:
        return [('dbm', self.backend)]

    def check(self, fix: bool = False) -> CheckReport:
        return self.stash.check(fix=fix)


TARGETS: dict[str, type[Target]] = {
    t.kind: t for t in (DirectoryTarget, SqliteTarget, ZipTarget, ShelveTarget)
}


def open_target(path: str | os.PathLike[str],
                options: Optional[Options] = None) -> Target:
    """The target at ``path``, of ``options.kind`` or of the detected kind;
    a URL (:func:`hutch._urls.is_remote`) is a directory stash on object
    storage."""
    options = options or Options()
    if is_remote(path):
        url = os.fspath(path)
        if options.kind not in (None, 'directory'):
            raise TargetError(f'a URL is a directory stash on object storage,'
                              f' not a {options.kind} stash', path=url)
        from .remote import RemoteDirectoryTarget
        return RemoteDirectoryTarget(url, options)
    p = Path(path)
    if options.storage_options:
        raise TargetError('storage options are for a URL, not a local path',
                          path=p)
    kind = options.kind or detect_kind(p, options)
    if kind not in KINDS:
        raise TargetError(f'unknown kind {kind!r}; known: {", ".join(KINDS)}')
    if options.kind and not os.path.lexists(p) and \
            (kind != 'shelve' or shelf_files_base(p) is None):
        raise TargetError('no such file or folder', path=p)
    if kind in ('sqlite', 'zip') and p.is_dir():
        raise TargetError(f'a folder, not a {kind} file', path=p)
    return TARGETS[kind](p, options)
