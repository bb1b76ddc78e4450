"""Bounded SqliteStash: limits hold after every write, reads write nothing."""

from __future__ import annotations

import multiprocessing
import pickle
import sqlite3
from pathlib import Path

import pytest

from hutch import SqliteStash

from .memo_functions import fill_bounded
from .processes import run_all

SPAWN = multiprocessing.get_context('spawn')


def test_a_write_over_max_items_evicts_the_oldest(tmp_path: Path) -> None:
    s = SqliteStash(tmp_path / 'b.db', max_items=3)
    for i in range(5):
        s[f'k{i}'] = i
    assert sorted(s.keys()) == ['k2', 'k3', 'k4']


def test_a_read_keeps_a_key_from_eviction(tmp_path: Path) -> None:
    s = SqliteStash(tmp_path / 'b.db', max_items=3)
    for i in range(3):
        s[f'k{i}'] = i
    assert s['k0'] == 0
    s['k3'] = 3
    assert sorted(s.keys()) == ['k0', 'k2', 'k3']


def test_fifo_evicts_the_first_written_even_when_read(tmp_path: Path) -> None:
    s = SqliteStash(tmp_path / 'b.db', max_items=3, policy='fifo')
    for i in range(3):
        s[f'k{i}'] = i
    assert s['k0'] == 0
    s['k3'] = 3
    assert sorted(s.keys()) == ['k1', 'k2', 'k3']


def test_max_bytes_bounds_the_stored_bytes(tmp_path: Path) -> None:
    path = tmp_path / 'b.db'
    s = SqliteStash(path, max_bytes=10_000, serializer='bytes')
    for i in range(30):
        s[f'k{i}'] = bytes(1_000)
    with sqlite3.connect(path) as raw:
        total = raw.execute('SELECT SUM(length(value)) FROM stash').fetchone()[0]
    assert 9_000 <= total <= 10_000
    assert 'k29' in s and 'k0' not in s


def test_a_value_larger_than_max_bytes_is_refused(tmp_path: Path) -> None:
    s = SqliteStash(tmp_path / 'b.db', max_bytes=100, serializer='bytes')
    s['small'] = b'x'
    with pytest.raises(ValueError, match="'big'"):
        s['big'] = bytes(101)
    assert list(s.keys()) == ['small']


def test_reads_of_a_bounded_stash_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / 'b.db'
    s = SqliteStash(path, max_items=10)
    s['a'] = 1
    with sqlite3.connect(path) as raw:
        before = raw.execute('PRAGMA data_version').fetchone()[0]
        for _ in range(100):
            assert s['a'] == 1
        after = raw.execute('PRAGMA data_version').fetchone()[0]
    assert before == after


def test_reads_are_stamped_on_close(tmp_path: Path) -> None:
    path = tmp_path / 'b.db'
    s = SqliteStash(path, max_items=3)
    for i in range(3):
        s[f'k{i}'] = i
    s['k0']
    s.close()
    other = SqliteStash(path, max_items=3)
    other['k3'] = 3
    assert sorted(other.keys()) == ['k0', 'k2', 'k3']


def test_limits_count_rows_an_unbounded_stash_wrote(tmp_path: Path) -> None:
    path = tmp_path / 'b.db'
    bounded = SqliteStash(path, max_items=5)
    bounded['first'] = 0
    unbounded = SqliteStash(path)
    unbounded.dump_many((f'u{i}', i) for i in range(10))
    bounded['last'] = 1
    assert len(bounded) == 5 and 'last' in bounded


def test_a_batch_is_bounded_too(tmp_path: Path) -> None:
    s = SqliteStash(tmp_path / 'b.db', max_items=4)
    s.dump_many((f'k{i}', i) for i in range(10))
    assert len(s) == 4


def test_limits_hold_when_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / 'b.db')
    procs = [SPAWN.Process(target=fill_bounded, args=(path, n * 100, 40, 25))
             for n in range(3)]
    assert run_all(procs) == [0, 0, 0]
    assert len(SqliteStash(path)) == 25


def test_a_pickled_bounded_stash_keeps_its_limits(tmp_path: Path) -> None:
    s = SqliteStash(tmp_path / 'b.db', max_items=2, max_bytes=500,
                    policy='fifo')
    twin = pickle.loads(pickle.dumps(s))
    assert (twin.max_items, twin.max_bytes, twin.policy) == (2, 500, 'fifo')


@pytest.mark.parametrize('options, error', [
    ({'max_items': 0}, ValueError), ({'max_bytes': -1}, ValueError),
    ({'max_items': 2.5}, TypeError), ({'max_items': True}, TypeError),
    ({'max_items': 2, 'policy': 'random'}, ValueError),
])
def test_bad_limits_are_refused(tmp_path: Path, options: dict[str, object],
                                error: type[Exception]) -> None:
    with pytest.raises(error):
        SqliteStash(tmp_path / 'b.db', **options)  # type: ignore[arg-type]
