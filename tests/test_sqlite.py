"""SqliteStash: the contract, its SQLite guarantees, threads and processes."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    CorruptDataError,
    PersistableError,
    Serializer,
    SqliteStash,
    Stash,
)
from hutch.testing import StorageContract, WriteContract

from .processes import run_all


class TestSqliteStash(StorageContract):
    """Checked against rows written and read with plain ``sqlite3``."""

    def new_empty(self, tmp_path: Path) -> Stash:
        return SqliteStash(tmp_path / 'stash.sqlite3')

    def write_directly(self, stash: Stash, key: str, value: Any) -> None:
        assert isinstance(stash, SqliteStash)
        with sqlite3.connect(stash.path) as conn:
            conn.execute('CREATE TABLE IF NOT EXISTS stash '
                         '(key TEXT PRIMARY KEY, value BLOB)')
            conn.execute('INSERT INTO stash VALUES (?, ?)',
                         (key, pickle.dumps(value)))
        conn.close()

    def read_directly(self, stash: Stash) -> dict[str, Any]:
        assert isinstance(stash, SqliteStash)
        with sqlite3.connect(stash.path) as conn:
            rows = conn.execute('SELECT key, value FROM stash').fetchall()
        conn.close()
        return {key: pickle.loads(value) for key, value in rows}


class TestSqliteStashWithJson(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return SqliteStash(tmp_path / 'stash.sqlite3', table='json_items',
                           serializer='json')


class RefusingSerializer(Serializer):
    """Stores with pickle but refuses to load: proves a call never loads."""

    name = 'refusing'

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value)

    def loads(self, data: bytes) -> Any:
        raise AssertionError('a value was deserialized')


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / 'data' / 'cache.sqlite3'


def test_data_survives_a_new_stash_on_the_same_file(db: Path) -> None:
    first = SqliteStash(db)
    first.dump('a', {'x': 1})
    first.close()
    assert SqliteStash(db).load('a') == {'x': 1}


def test_the_database_runs_in_wal_mode(db: Path) -> None:
    SqliteStash(db).dump('a', 1)
    with sqlite3.connect(db) as conn:
        assert conn.execute('PRAGMA journal_mode').fetchone() == ('wal',)


def test_tables_in_one_file_are_independent(db: Path) -> None:
    one, two = SqliteStash(db, table='one'), SqliteStash(db, table='two')
    one.dump('k', 1)
    two.dump('k', 2)
    one.clear()
    assert (one.load('k'), two.load('k')) == (None, 2)


@pytest.mark.parametrize('table', ['', 'a b', 'x"; DROP TABLE y; --', '1st',
                                   'sqlite_master', 'naïve'])
def test_a_table_name_that_is_not_a_plain_identifier_is_refused(
        db: Path, table: str) -> None:
    with pytest.raises(ValueError):
        SqliteStash(db, table=table)
    assert not db.exists()


def test_a_bad_timeout_is_refused_at_construction(db: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStash(db, timeout=-1)


def test_an_unknown_serializer_is_refused_at_construction(db: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStash(db, serializer='yaml')


@pytest.mark.parametrize('call', ['load', 'get', 'exists', 'delete'])
def test_a_non_str_key_raises_type_error(db: Path, call: str) -> None:
    with pytest.raises(TypeError):
        getattr(SqliteStash(db), call)(1)


def test_dumping_under_a_non_str_key_raises_type_error(db: Path) -> None:
    stash = SqliteStash(db)
    with pytest.raises(TypeError):
        stash.dump(('a', 1), 'value')  # type: ignore[arg-type]
    assert len(stash) == 0


def test_len_keys_and_exists_never_deserialize(db: Path) -> None:
    stash = SqliteStash(db, serializer=RefusingSerializer())
    for i in range(3):
        stash.dump(f'k{i}', i)
    assert len(stash) == 3
    assert len(stash.keys()) == 3
    assert list(stash.keys()) == ['k0', 'k1', 'k2']
    assert stash.exists('k1') and 'k1' in stash.keys()


def test_keys_come_in_key_order_across_many_pages(db: Path) -> None:
    stash = SqliteStash(db)
    names = [f'{i:05d}' for i in range(1234)]
    stash.dump_many((n, None) for n in reversed(names))
    assert list(stash.keys()) == names


def test_items_come_in_key_order_across_many_pages(db: Path) -> None:
    stash = SqliteStash(db)
    pairs = [(f'{i:05d}', i) for i in range(1234)]
    stash.dump_many(reversed(pairs))
    assert list(stash.items()) == pairs
    assert list(stash.values()) == [v for _, v in pairs]


def test_writing_while_iterating_keys_is_allowed(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump_many((f'{i:05d}', i) for i in range(1200))
    for key in stash.keys():
        stash.dump(key, -1)
    assert set(stash.values()) == {-1}


def test_a_corrupt_value_raises_corrupt_data_error_naming_key_and_path(
        db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump('bad', 'fine for now')
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE stash SET value = x'00ff' WHERE key = 'bad'")
    with pytest.raises(CorruptDataError) as info:
        stash.load('bad')
    assert info.value.key == 'bad'
    assert Path(info.value.path) == db  # type: ignore[arg-type]


def test_a_file_that_is_not_a_database_raises_naming_the_path(
        tmp_path: Path) -> None:
    path = tmp_path / 'not.sqlite3'
    path.write_bytes(b'this is not a database, just some text' * 100)
    with pytest.raises(PersistableError) as info:
        SqliteStash(path).load('k')
    assert str(path) in str(info.value)


def test_a_batch_dump_stores_every_pair(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump_many([('a', 1), ('b', None)])
    stash.dump_many({'c': 3, 'a': 'one'})
    assert dict(stash.items()) == {'a': 'one', 'b': None, 'c': 3}


def test_a_failing_batch_dump_stores_nothing(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump('kept', 0)
    with pytest.raises(TypeError):
        stash.dump_many([('a', 1), (2, 2), ('c', 3)])  # type: ignore[list-item]
    assert list(stash.keys()) == ['kept']
    stash.dump('after', 1)
    assert len(stash) == 2


def test_a_batch_load_gives_the_stored_keys_in_the_order_asked(
        db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump_many({f'k{i}': i for i in range(1100)})
    stash.dump('none', None)
    wanted = ['k1099', 'missing', 'none', 'k0', 'k1099'] + \
        [f'k{i}' for i in range(600, 0, -1)]
    got = stash.load_many(wanted)
    assert list(got) == list(dict.fromkeys(k for k in wanted
                                           if k != 'missing'))
    assert got['none'] is None and got['k5'] == 5


def test_a_closed_stash_reopens_on_next_use(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump('a', 1)
    stash.close()
    stash.close()
    assert stash.load('a') == 1


def _wal(db: Path) -> int:
    """The size of the database's write-ahead log (0 when there is none)."""
    wal = Path(f'{db}-wal')
    return wal.stat().st_size if wal.exists() else 0


def test_close_empties_the_wal_while_another_connection_is_open(
        db: Path) -> None:
    reader = SqliteStash(db)
    reader.dump('warm', 0)  # holds a connection from here on
    stash = SqliteStash(db)
    # values under the side file size, so they go through the log
    stash.dump_many((f'big{i}', os.urandom(512 << 10)) for i in range(5))
    assert _wal(db) > 2 << 20
    stash.close()
    assert _wal(db) == 0
    assert len(reader.load('big4')) == 512 << 10
    reader.close()


def test_close_does_not_wait_for_a_reader_holding_a_snapshot(
        db: Path) -> None:
    stash = SqliteStash(db, timeout=600)
    stash.dump('a', os.urandom(1 << 16))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute('BEGIN')
    other.execute('SELECT COUNT(*) FROM stash').fetchone()  # a read snapshot
    done = threading.Event()
    closer = threading.Thread(target=lambda: (stash.close(), done.set()))
    closer.start()
    try:
        # the checkpoint can't complete while the snapshot is held: close
        # leaves the log to a later close instead of waiting for the reader
        assert done.wait(60), 'close() waited for the reader'
    finally:
        other.execute('COMMIT')
        other.close()
        closer.join()
    assert stash.load('a') is not None


def test_a_writer_waits_for_another_connections_write(db: Path) -> None:
    stash = SqliteStash(db, timeout=30)
    stash.dump('warm', 0)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute('BEGIN IMMEDIATE')
    release = threading.Timer(0.2, other.execute, ('COMMIT',))
    release.start()
    try:
        stash.dump('k', 'waited')
    finally:
        release.join()
        other.close()
    assert stash.load('k') == 'waited'


def test_a_writer_that_cannot_wait_raises_naming_key_and_path(
        db: Path) -> None:
    stash = SqliteStash(db, timeout=0)
    stash.dump('warm', 0)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute('BEGIN IMMEDIATE')
    try:
        with pytest.raises(PersistableError) as info:
            stash.dump('k', 1)
    finally:
        other.execute('ROLLBACK')
        other.close()
    assert info.value.key == 'k'
    assert Path(info.value.path) == db  # type: ignore[arg-type]


def test_threads_share_a_stash(db: Path) -> None:
    stash = SqliteStash(db)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                stash.dump(f't{t}-{i}', (t, i))
                assert stash.load(f't{t}-{i}') == (t, i)
        except BaseException as e:  # reported below, in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    assert len(stash) == 300
    stash.close()


def _open_fds() -> int:
    return len(os.listdir('/proc/self/fd'))


@pytest.mark.skipif(not os.path.isdir('/proc/self/fd'),
                    reason='counts open files through /proc')
def test_connections_of_finished_threads_do_not_pile_up(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump('main', 0)
    before = _open_fds()
    for i in range(30):
        th = threading.Thread(target=stash.dump, args=(f't{i}', i))
        th.start()
        th.join(timeout=60)
    # each connection holds three files (database, WAL, shared memory)
    assert _open_fds() - before <= 6
    assert len(stash) == 31
    stash.close()


def test_pickles_by_path_without_connections(db: Path) -> None:
    stash = SqliteStash(db, table='t', serializer='json')
    stash.dump('a', [1])
    copy = pickle.loads(pickle.dumps(stash))
    assert (copy.path, copy.table, copy.serializer) == \
        (db, 't', stash.serializer)
    assert copy.load('a') == [1]
    assert stash.shareable


def _write_range(stash: SqliteStash, worker: int, n: int) -> None:
    for i in range(n):
        stash.dump(f'shared-{i % 20}', (worker, i))
        stash.dump(f'w{worker}-{i}', i)


def test_a_spawned_child_writes_what_the_parent_reads(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump('parent', 1)
    ctx = multiprocessing.get_context('spawn')
    child = ctx.Process(target=_write_range, args=(stash, 7, 5))
    assert run_all([child]) == [0]
    assert [stash.load(f'w7-{i}') for i in range(5)] == list(range(5))
    assert stash.load('parent') == 1


def test_a_forked_child_opens_its_own_connection(db: Path) -> None:
    stash = SqliteStash(db)
    stash.dump('before', 0)  # the parent's connection is open at the fork
    ctx = multiprocessing.get_context('fork')
    child = ctx.Process(target=_write_range, args=(stash, 1, 10))
    assert run_all([child]) == [0]
    assert stash.load('w1-9') == 9
    stash.dump('after', 1)
    assert len(stash) == 1 + 10 + 10 + 1


def test_concurrent_processes_lose_no_write(db: Path) -> None:
    stash = SqliteStash(db)
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_write_range, args=(stash, w, 200))
             for w in range(4)]
    assert run_all(procs) == [0] * 4
    for w in range(4):
        assert stash.load_many(f'w{w}-{i}' for i in range(200)) == \
            {f'w{w}-{i}': i for i in range(200)}
    for i in range(20):
        worker, last = stash.load(f'shared-{i}')
        assert last % 20 == i and 0 <= worker < 4
    assert len(stash) == 4 * 200 + 20


@pytest.mark.parametrize('op', ['dump', 'load', 'exists', 'delete'])
def test_a_key_with_a_lone_surrogate_is_refused_naming_it(
        tmp_path: Path, op: str) -> None:
    stash = SqliteStash(tmp_path / 'k.db')
    args: tuple[Any, ...] = ('bad\ud800',) + ((1,) if op == 'dump' else ())
    with pytest.raises(ValueError, match='bad'):
        getattr(stash, op)(*args)
    assert len(stash) == 0
    stash.close()


def _write_then_die(path: Path) -> None:
    stash = SqliteStash(path)
    for i in range(20):
        stash.dump(f'k{i}', i)
    os._exit(0)  # no close: the WAL keeps the data, as after a kill


def test_a_read_only_stash_reads_a_left_over_wal_and_changes_no_file(
        db: Path) -> None:
    child = multiprocessing.get_context('fork').Process(
        target=_write_then_die, args=(db,))
    child.start()
    child.join(60)
    files = {p.name: p.read_bytes() for p in db.parent.iterdir()
             if p.name != f'{db.name}-shm'}
    assert f'{db.name}-wal' in files and db.name in files
    stash = SqliteStash(db, read_only=True)
    assert stash.load('k7') == 7 and len(stash) == 20
    with pytest.raises(PersistableError) as info:
        stash.dump('new', 1)
    assert info.value.key == 'new'
    stash.close()
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()
            if p.name != f'{db.name}-shm'} == files


def test_a_read_only_stash_pickles_as_read_only(db: Path) -> None:
    SqliteStash(db).dump('a', 1)
    copy = pickle.loads(pickle.dumps(SqliteStash(db, read_only=True)))
    assert copy.read_only and copy.load('a') == 1
    with pytest.raises(PersistableError):
        copy.dump('b', 2)
