"""SqliteStash answers a repeated read from the rows it kept, and never with
anything SQLite would not return at that moment."""

from __future__ import annotations

import multiprocessing
import pickle
import sqlite3
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from hutch import SqliteStash
from hutch.stash import _sqlite_rows

from .processes import run_all

SPAWN = multiprocessing.get_context('spawn')


class Queries:
    """The SELECTs this thread's connection of a stash runs."""

    def __init__(self, stash: SqliteStash) -> None:
        self.seen: list[str] = []
        stash._connection().set_trace_callback(self.seen.append)

    def __len__(self) -> int:
        return sum(1 for q in self.seen if q.startswith('SELECT'))


@pytest.fixture
def stash(tmp_path: Path) -> Iterator[SqliteStash]:
    s = SqliteStash(tmp_path / 'rows.sqlite3')
    yield s
    s.close()


def test_a_repeated_read_runs_no_query_while_nobody_commits(
        stash: SqliteStash) -> None:
    stash['a'] = [1, 2]
    queries = Queries(stash)
    assert [stash['a'] for _ in range(5)] == [[1, 2]] * 5
    assert len(queries) == 1


def test_each_read_gives_its_own_copy_of_the_value(stash: SqliteStash) -> None:
    stash['a'] = [1, 2]
    first = stash['a']
    first.append(3)
    assert stash['a'] == [1, 2]


def test_a_commit_by_another_connection_is_seen_by_the_next_read(
        stash: SqliteStash, tmp_path: Path) -> None:
    stash['a'] = 'old'
    assert stash['a'] == 'old'
    other = SqliteStash(tmp_path / 'rows.sqlite3')
    other['a'] = 'new'
    assert stash['a'] == 'new'
    other.delete('a')
    assert stash.get('a', 'gone') == 'gone'
    other.close()


def test_a_commit_by_another_thread_is_seen_by_the_next_read(
        stash: SqliteStash) -> None:
    stash['a'] = 1
    assert stash['a'] == 1
    writer = threading.Thread(target=stash.dump, args=('a', 2))
    writer.start()
    writer.join()
    assert stash['a'] == 2


def test_an_uncommitted_write_is_not_seen_and_its_commit_is(
        stash: SqliteStash, tmp_path: Path) -> None:
    stash['a'] = 'before'
    assert stash['a'] == 'before'
    raw = sqlite3.connect(tmp_path / 'rows.sqlite3', isolation_level=None)
    raw.execute('BEGIN IMMEDIATE')
    raw.execute("UPDATE stash SET value = ? WHERE key = 'a'",
                (pickle.dumps('after'),))
    assert stash['a'] == 'before'
    raw.execute('COMMIT')
    assert stash['a'] == 'after'
    raw.close()


def _write_on_cue(path: Path, cues: Connection, rounds: int) -> None:
    stash = SqliteStash(path)
    for value in range(1, rounds + 1):
        stash['counter'] = value
        cues.send(value)      # committed: any read from now must see it
        assert cues.recv() == value
    stash.close()


def test_a_read_after_another_process_committed_always_sees_that_commit(
        stash: SqliteStash, tmp_path: Path) -> None:
    stash['counter'] = 0
    rounds = 300
    ours, theirs = SPAWN.Pipe()
    writer = SPAWN.Process(target=_write_on_cue,
                           args=(tmp_path / 'rows.sqlite3', theirs, rounds))
    stale = []

    def read_along() -> None:
        for _ in range(rounds):
            committed = ours.recv()
            for _ in range(3):  # the first from SQLite, the rest kept
                if stash['counter'] != committed:
                    stale.append((committed, stash['counter']))
            ours.send(committed)

    reader = threading.Thread(target=read_along)
    reader.start()
    assert run_all([writer]) == [0]
    reader.join(30)
    assert not stale
    assert stash['counter'] == rounds


def _read_twice(path: Path, results: Connection) -> None:
    stash = SqliteStash(path)
    results.send(stash['a'])
    assert results.recv() == 'go'
    results.send(stash['a'])


def test_a_forked_or_spawned_reader_sees_writes_made_after_its_first_read(
        stash: SqliteStash, tmp_path: Path) -> None:
    stash['a'] = 'first'
    assert stash['a'] == 'first'  # kept by this process before the fork
    for method in ('fork', 'spawn'):
        context = multiprocessing.get_context(method)
        ours, theirs = context.Pipe()
        child = context.Process(target=_read_twice,
                                args=(tmp_path / 'rows.sqlite3', theirs))
        child.start()
        try:
            assert ours.recv() == 'first'
            stash['a'] = 'second'
            ours.send('go')
            assert ours.recv() == 'second'
        finally:
            child.join(30)
        assert child.exitcode == 0
        stash['a'] = 'first'


def test_a_run_of_misses_reads_no_header(
        stash: SqliteStash, monkeypatch: pytest.MonkeyPatch) -> None:
    stash['a'] = 1
    assert stash['a'] == 1  # a row kept: the next read reads the header
    reads: list[int] = []
    real = _sqlite_rows._pread

    def counted(fd: int, n: int, offset: int) -> bytes:
        reads.append(n)
        return real(fd, n, offset)
    monkeypatch.setattr(_sqlite_rows, '_pread', counted)
    for i in range(20):  # a memoized function's misses: look up, then write
        assert stash.get(f'new{i}') is None
        stash[f'new{i}'] = i
    # two lookups read it: the first (nothing committed since 'a' was kept)
    # and the second, which finds a commit and drops 'a'; then none does
    assert len(reads) == 2


def test_after_a_miss_a_found_row_is_kept_from_its_second_read(
        stash: SqliteStash) -> None:
    stash['a'] = 1
    queries = Queries(stash)
    assert stash.get('absent') is None
    assert [stash['a'] for _ in range(4)] == [1] * 4
    # the miss, the first read (unkept, no header was read), the second
    # (kept): the last two need no query
    assert len(queries) == 3


def test_a_commit_made_during_a_run_of_misses_is_seen(
        stash: SqliteStash, tmp_path: Path) -> None:
    stash['a'] = 'old'
    assert stash['a'] == 'old'
    other = SqliteStash(tmp_path / 'rows.sqlite3')
    for i in range(3):
        assert stash.get(f'absent{i}') is None
        other['a'] = f'new{i}'
        assert stash['a'] == f'new{i}'
        assert stash['a'] == f'new{i}'
    other['a'] = 'last'
    assert stash['a'] == 'last'
    other.close()


def test_read_cache_zero_queries_on_every_read(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'rows.sqlite3', read_cache=0)
    stash['a'] = 1
    queries = Queries(stash)
    for _ in range(3):
        assert stash['a'] == 1
    assert len(queries) == 3
    stash.close()


def test_rows_beyond_read_cache_bytes_are_queried_again(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'rows.sqlite3', read_cache=4096)
    stash.dump_many({f'k{i}': 'x' * 1000 for i in range(10)})
    queries = Queries(stash)
    for _ in range(2):
        for i in range(10):
            assert stash[f'k{i}'] == 'x' * 1000
    # about three rows fit in 4 KiB: the second pass queries the others
    assert 12 <= len(queries) < 20
    stash.close()


def test_a_large_value_is_read_from_its_file_each_time(
        stash: SqliteStash) -> None:
    stash['big'] = b'x' * (2 << 20)  # kept beside the table
    queries = Queries(stash)
    assert stash['big'] == stash['big']
    assert len(queries) == 2


def test_a_kept_row_still_counts_as_used_by_a_bounded_stash(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'lru.sqlite3', max_items=2)
    stash['a'], stash['b'] = 1, 2
    assert stash['a'] == 1 and stash['b'] == 2
    queries = Queries(stash)
    assert stash['a'] == 1  # now used after 'b', without a query
    assert len(queries) == 0
    stash['c'] = 3          # over the limit: 'b', used longest ago, goes
    assert sorted(stash.keys()) == ['a', 'c']
    stash.close()


def test_reads_after_close_see_what_was_written_meanwhile(
        stash: SqliteStash, tmp_path: Path) -> None:
    stash['a'] = 'kept'
    assert stash['a'] == 'kept'
    stash.close()
    raw = sqlite3.connect(tmp_path / 'rows.sqlite3', isolation_level=None)
    raw.execute('DELETE FROM stash')
    raw.close()
    assert stash.get('a') is None


@pytest.mark.parametrize('bad, error', [(-1, ValueError), (1.5, TypeError),
                                        (True, TypeError), ('8M', TypeError)])
def test_read_cache_must_be_a_number_of_bytes(tmp_path: Path, bad: object,
                                              error: type[Exception]) -> None:
    with pytest.raises(error, match='read_cache'):
        SqliteStash(tmp_path / 'rows.sqlite3', read_cache=bad)  # type: ignore[arg-type]


def test_a_pickled_stash_keeps_its_read_cache(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'rows.sqlite3', read_cache=0)
    assert pickle.loads(pickle.dumps(stash)).read_cache == 0
