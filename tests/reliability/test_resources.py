"""Resources: nothing stays open once a stash is closed.

The process's open file descriptors (``/proc/self/fd``, which also shows
SQLite's database, journal and WAL files) are the same after a stash has
been used -- by one thread or many -- and closed as they were before; a
``with`` block closes the stash even when its body raises; and a stash used
again after ``close()`` reopens what it needs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hutch import CloseableStash, Stash

from .stashes import DURABLE, Kind, open_fds, scaled


def _work(stash: Stash, tag: str, n: int = 20) -> None:
    for i in range(n):
        stash.dump(f'{tag}-{i}', {'i': i})
        assert stash.load(f'{tag}-{i}') == {'i': i}
    assert len(stash) >= n
    list(stash.keys())
    list(stash.values())
    stash.exists(f'{tag}-0')


def _close(stash: Stash) -> None:
    if isinstance(stash, CloseableStash):
        stash.close()


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_open_use_clear_close_cycles_leak_no_descriptor(
        kind: Kind, tmp_path: Path) -> None:
    before = open_fds()
    for cycle in range(scaled(20)):
        stash = kind.make(tmp_path)
        _work(stash, f'c{cycle}')
        if cycle % 2:
            stash.clear()
        _close(stash)
    assert open_fds() == before


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_a_stash_used_by_many_threads_leaks_nothing_once_closed(
        kind: Kind, tmp_path: Path) -> None:
    before = open_fds()
    stash = kind.make(tmp_path)
    threads = [threading.Thread(target=_work, args=(stash, f't{i}'))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    _close(stash)
    assert open_fds() == before


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_with_closes_the_stash_even_when_the_body_raises(
        kind: Kind, tmp_path: Path) -> None:
    before = open_fds()
    stash = kind.make(tmp_path)
    assert isinstance(stash, CloseableStash)
    with pytest.raises(RuntimeError, match='body failed'):
        with stash as s:
            _work(s, 'w')
            raise RuntimeError('body failed')
    assert open_fds() == before


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_a_closed_stash_reopens_on_use(kind: Kind, tmp_path: Path) -> None:
    stash = kind.make(tmp_path)
    stash.dump('k', 1)
    _close(stash)
    assert stash.load('k') == 1
    stash.dump('k', 2)
    _close(stash)
    again = kind.make(tmp_path)
    assert again.load('k') == 2
    _close(again)


def test_persisted_work_to_a_file_leaks_no_descriptor(tmp_path: Path) -> None:
    from hutch.persisted import PersistedWork

    before = open_fds()
    for i in range(scaled(50)):
        work = PersistedWork(tmp_path / 'work.dat', object())
        work.worker = lambda: list(range(100))
        assert work() == list(range(100))
        if i % 2:
            work.clear()
        work.deallocate()
    assert open_fds() == before
