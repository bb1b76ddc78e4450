"""No room to write: a clear error naming key and path, and nothing left.

A write that finds no room raises :class:`~hutch.DiskFullError` -- a
:class:`~hutch.PersistableError` and an ``OSError`` carrying the system's
``errno`` -- naming the key and the file (or database), leaving no temporary
file, keeping what was stored before, and letting later writes that fit
succeed.  Two ways to run out of room are tried:

* ``fsize``: the writer runs in a child process whose file size limit
  (``RLIMIT_FSIZE``) is 256 KiB, with ``SIGXFSZ`` ignored, so a bigger
  write fails with ``EFBIG``.  Needs nothing special.
* ``tmpfs``: the stash lives on a 1 MiB ``tmpfs`` mounted for the test, so
  a bigger write fails with ``ENOSPC``, a real full disk.  Needs root
  (mounting); it is skipped otherwise.

SQLite turns ``EFBIG`` into a generic I/O error, so its full-disk test uses
the ``tmpfs`` only.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

from hutch import (
    CloseableStash,
    DiskFullError,
    PersistableError,
    PersistedWork,
    Stash,
)
from hutch._files import atomic_write, atomic_writer, is_temp_name

from .procs import FORK, WAIT, finish

_LIMIT = 256 << 10  # the file size limit of the fsize children
_BIG = 2 << 20  # more than either way leaves room for


@dataclass
class Room:
    """Where a test's stash lives, and how its writes are run."""

    how: str
    home: Path

    def run(self, fn: Callable[[], Any]) -> Optional[BaseException]:
        """Run ``fn`` in a forked child (under the file size limit when
        :attr:`how` is ``fsize``); the exception it raised, or ``None``."""
        reader, writer = FORK.Pipe(duplex=False)
        proc = FORK.Process(target=_child, args=(self.how, fn, writer))
        proc.start()
        writer.close()
        try:
            if not reader.poll(WAIT):
                raise AssertionError('the writer sent no result')
            result: Optional[BaseException] = reader.recv()
        finally:
            reader.close()
            finish(proc)
        return result


def _child(how: str, fn: Callable[[], Any], conn: Any) -> None:
    if how == 'fsize':
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (_LIMIT, _LIMIT))
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - handed to the parent
        conn.send(e)
    else:
        conn.send(None)
    conn.close()


@contextmanager
def _tmpfs(folder: Path) -> Iterator[Room]:
    """A 1 MiB tmpfs mounted on ``folder`` for the block (the test is
    skipped where mounting is not allowed); always unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    done = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs',
         str(folder)], capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f'cannot mount a tmpfs: {done.stderr.strip()}')
    try:
        yield Room('tmpfs', folder)
    finally:
        # lazily when a failed test left a file open on it
        if subprocess.run(['umount', str(folder)], capture_output=True,
                          check=False).returncode:
            subprocess.run(['umount', '-l', str(folder)], check=True)


@pytest.fixture(params=['fsize', 'tmpfs'])
def room(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Room]:
    home = tmp_path / 'home'
    home.mkdir()
    if request.param == 'fsize':
        yield Room('fsize', home)
    else:
        with _tmpfs(home) as tmpfs:
            yield tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Room]:
    """A 1 MiB tmpfs (SQLite reports a full disk only for ENOSPC)."""
    home = tmp_path / 'home'
    home.mkdir()
    with _tmpfs(home) as tmpfs:
        yield tmpfs


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*')
                  if not p.is_dir())


def _check(err: Optional[BaseException], key: Optional[str],
           path: Path) -> None:
    assert isinstance(err, DiskFullError), repr(err)
    assert isinstance(err, PersistableError) and isinstance(err, OSError)
    assert err.errno in (errno.ENOSPC, errno.EFBIG)
    assert err.key == key
    assert Path(err.path) == path  # type: ignore[arg-type]
    assert str(path) in str(err)
    if key is not None:
        assert f'key {key!r}' in str(err)


def _directory(home: Path) -> Stash:
    from hutch.stash.directory import DirectoryStash
    return DirectoryStash(home / 'data')


def _sharded(home: Path) -> Stash:
    from hutch.stash.directory import DirectoryStash
    return DirectoryStash(home / 'data', shard=4)


def _composite(home: Path) -> Stash:
    from hutch.stash.composite import DirectoryCompositeStash
    return DirectoryCompositeStash(home / 'data', [{'a'}], 'feats')


class _Item:
    def __init__(self, size: int) -> None:
        self.feats = {'a': os.urandom(size)}


_MAKERS = {'DirectoryStash': _directory, 'DirectoryStash-shard4': _sharded}


def _write_all(path: Path, data: bytes, key: str) -> None:
    atomic_write(path, data, key=key)


def _write_streamed(path: Path, data: bytes, key: str) -> None:
    with atomic_writer(path, key=key) as f:
        for at in range(0, len(data), 1 << 16):
            f.write(data[at:at + (1 << 16)])


@pytest.mark.parametrize('write', [_write_all, _write_streamed],
                         ids=['atomic_write', 'atomic_writer'])
def test_an_atomic_write_that_finds_no_room_names_path_and_key(
        room: Room, write: Callable[[Path, bytes, str], None]) -> None:
    path = room.home / 'value.bin'
    write(path, b'old', 'k')
    err = room.run(lambda: write(path, os.urandom(_BIG), 'k'))
    _check(err, 'k', path)
    assert path.read_bytes() == b'old'
    assert _files(room.home) == ['value.bin']


@pytest.mark.parametrize('kind', sorted(_MAKERS))
def test_a_dump_that_finds_no_room_names_key_and_file_and_leaves_nothing(
        room: Room, kind: str) -> None:
    stash = _MAKERS[kind](room.home)
    stash.dump('kept', b'small')
    before = _files(room.home)

    def dump_big_then_small() -> None:
        try:
            stash.dump('big', os.urandom(_BIG))
        finally:
            stash.dump('after', b'fits')  # a write that fits still works

    err = room.run(dump_big_then_small)
    _check(err, 'big', stash.key_to_path('big'))  # type: ignore[attr-defined]
    assert not any(is_temp_name(Path(f).name) for f in _files(room.home))
    assert _files(room.home) == sorted(
        [*before, str(stash.key_to_path('after')  # type: ignore[attr-defined]
                      .relative_to(room.home))])
    assert stash.load('kept') == b'small' and 'big' not in stash


def test_an_increment_key_dump_that_finds_no_room_names_the_key(
        room: Room) -> None:
    from hutch.stash.directory import IncrementKeyDirectoryStash

    stash = IncrementKeyDirectoryStash(room.home / 'data')
    stash.dump(b'first')  # type: ignore[call-arg]
    err = room.run(lambda: stash.dump(os.urandom(_BIG)))  # type: ignore[call-arg]
    _check(err, '2', stash.key_to_path('2'))
    assert list(stash.keys()) == ['1']
    assert not any(is_temp_name(Path(f).name) for f in _files(room.home))


def test_a_composite_dump_that_finds_no_room_names_key_and_file(
        room: Room) -> None:
    stash = _composite(room.home)
    err = room.run(lambda: stash.dump('big', _Item(_BIG)))
    group = stash._group_stashes[frozenset({'a'})]  # type: ignore[attr-defined]
    _check(err, 'big', group.key_to_path('big'))
    assert not any(is_temp_name(Path(f).name) for f in _files(room.home))


class _Owner:
    pass


def test_persisted_work_that_finds_no_room_names_its_file(room: Room) -> None:
    path = room.home / 'work.dat'
    work = PersistedWork(path, _Owner())
    work.worker = lambda: os.urandom(_BIG)
    err = room.run(work)
    _check(err, None, path)
    assert _files(room.home) == []


def _wal(db: Path) -> int:
    wal = Path(f'{db}-wal')
    return wal.stat().st_size if wal.exists() else 0


def test_sqlite_on_a_full_disk_names_key_and_database_and_keeps_data(
        small_disk: Room) -> None:
    from hutch.stash.sqlite import SqliteStash

    db = small_disk.home / 'data.sqlite3'
    stash = SqliteStash(db)
    stash.dump('kept', b'small')
    err = small_disk.run(lambda: stash.dump('big', os.urandom(_BIG)))
    _check(err, 'big', db)
    assert stash.load('kept') == b'small' and 'big' not in stash
    _close(stash)


def test_a_sqlite_batch_that_finds_no_room_stores_nothing(
        small_disk: Room) -> None:
    from hutch.stash.sqlite import SqliteStash

    db = small_disk.home / 'data.sqlite3'
    stash = SqliteStash(db)
    stash.dump('kept', b'small')
    try:
        with pytest.raises(DiskFullError) as info:
            stash.dump_many([('a', b'1'), ('big', os.urandom(_BIG))])
        # the large value goes to a side file, whose writer names its key
        _check(info.value, 'big', db)
        assert sorted(stash.keys()) == ['kept']
    finally:
        stash.close()


def test_sqlite_close_returns_a_failed_writes_log_once_there_is_room(
        small_disk: Room) -> None:
    from hutch.stash.sqlite import SqliteStash

    db = small_disk.home / 'data.sqlite3'
    filler = small_disk.home / 'filler'
    filler.write_bytes(b'x' * (256 << 10))
    reader = SqliteStash(db)
    reader.dump('kept', b'small')  # another connection, open throughout
    stash = SqliteStash(db)
    for i in range(20):  # committed, not yet in the database file
        stash.dump(f'k{i}', os.urandom(4000))
    with pytest.raises(DiskFullError):
        stash.dump('big', os.urandom(_BIG))
    assert _wal(db) > 256 << 10  # the failed write's pages fill the disk
    filler.unlink()  # the user makes room
    stash.close()
    assert _wal(db) == 0
    assert reader.load('k19') is not None and 'big' not in reader
    reader.close()


def _close(stash: Stash) -> None:
    if isinstance(stash, CloseableStash):
        stash.close()
