"""Parallel builds that are killed, or whose workers exit or die.

The process running :meth:`MultiProcessFactoryStash.prime` over a
:class:`~hutch.stash.directory.DirectoryStash` (its process workers write
straight into the folder) is SIGKILLed at a random moment.  Then:

* every item already in the folder is whole and right;
* the workers it started do not outlive it for long (they notice their
  parent is gone and exit -- never an orphan that runs for ever);
* a new build completes the folder, computing only the missing items.

Kills: ``3 * HUTCH_RELIABILITY_SCALE``.

An item whose code calls ``sys.exit()`` or raises ``KeyboardInterrupt`` in
a worker (a thread, or a process started by ``fork`` or ``spawn``), over a
delegate the parent writes and one the workers write: the run stores every
other item and ends with ``ProcessingError`` naming that item's key alone.
A worker killed part way through a chunk: ``WorkerDiedError`` names exactly
the keys that were not stored.

Runs: ``3 * HUTCH_RELIABILITY_SCALE`` per back end, delegate and exit;
``10 * HUTCH_RELIABILITY_SCALE`` kills.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    DictionaryStash,
    DirectoryStash,
    ProcessingError,
    ReadOnlyStash,
    Stash,
    WorkerDiedError,
)

from ..multi_stashes import Squares
from .procs import FORK, WAIT, wait_for
from .stashes import check_payload, payload, record, scaled

ITEMS = 60


class _Slow(ReadOnlyStash):
    """Makes item ``i`` in ~20 ms and notes who made it in ``log``."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def load(self, name: str) -> Any:
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f'{name} {os.getpid()}\n'.encode())
        os.close(fd)
        time.sleep(0.02)
        return payload(int(name), size=2048)

    def keys(self) -> list[str]:
        return [str(i) for i in range(ITEMS)]


def _build(home: Path, log: Path, backend: str) -> None:
    from hutch.multi import MultiProcessFactoryStash
    from hutch.stash.directory import DirectoryStash

    stash = MultiProcessFactoryStash(
        DirectoryStash(home / 'data'), _Slow(log), chunk_size=3, workers=2,
        backend=backend, start_method='spawn', progress=False)
    stash.prime()


def _made(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(k, int(p)) for k, p in
            (line.split() for line in log.read_text().splitlines())]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but not yet reaped by its (new) parent
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def _kill_a_build(home: Path, log: Path, rng: random.Random) -> None:
    """Start a build, kill it mid-way, wait for its workers to go."""
    proc = FORK.Process(target=_build, args=(home, log, 'process'),
                        daemon=True)
    proc.start()
    try:
        wait_for(lambda: len(_made(log)) >= 4 or not proc.is_alive(),
                 'the workers to start making items')
        time.sleep(rng.uniform(0, 0.3))
    finally:
        proc.kill()
        proc.join(WAIT)
    workers = {pid for _, pid in _made(log)} - {proc.pid}
    try:
        wait_for(lambda: not any(_alive(p) for p in workers),
                 'the orphaned workers to exit', timeout=30)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, 9)


@pytest.mark.slow
def test_a_killed_parallel_build_resumes_with_nothing_torn(
        tmp_path: Path) -> None:
    from hutch.stash.directory import DirectoryStash

    rng = random.Random('multi')
    kills = 0
    for round_ in range(scaled(3)):
        home = tmp_path / f'round-{round_}'
        log = home / 'made.log'
        home.mkdir()
        _kill_a_build(home, log, rng)
        kills += 1
        data = DirectoryStash(home / 'data')
        before = set(data.keys())
        for key in before:
            writer, seq = check_payload(data.load(key))
            assert str(seq) == key
        made_before = len(_made(log))
        _build(home, log, 'serial')
        assert sorted(data.keys(), key=int) == [str(i) for i in range(ITEMS)]
        for key in data.keys():
            assert check_payload(data.load(key))[1] == int(key)
        remade = [k for k, _ in _made(log)[made_before:]]
        assert not set(remade) & before, 'a finished item was made again'
        assert len(remade) == len(set(remade)) == ITEMS - len(before)
    record('crash-MultiProcessFactoryStash', kills=kills)


def test_results_finished_alongside_a_dead_worker_are_kept() -> None:
    """When a worker dies, chunks that finished in the same instant still
    reach the caller before the run ends with ChunksLost."""
    import concurrent.futures as cf
    from concurrent.futures.process import BrokenProcessPool

    from hutch.multi.backends import ChunksLost, _drive
    from hutch.multi.jobs import ChunkResult

    lost_results = 0
    for _ in range(50):  # futures are iterated in set order: try many
        def submit(index: int, chunk: Any) -> cf.Future[ChunkResult]:
            future: cf.Future[ChunkResult] = cf.Future()
            if index == 1:
                future.set_exception(BrokenProcessPool('worker died'))
            else:
                future.set_result(ChunkResult(index, stored=len(chunk)))
            return future

        def wait(pending: set[Any], timeout: Any) -> set[Any]:
            return set(pending)  # both finished: the pool broke meanwhile

        got = []
        with pytest.raises(ChunksLost):
            for result in _drive(submit, wait, lambda p: None, [['a'], ['b']],
                                 2, None, (cf.BrokenExecutor,)):
                got.append(result.index)
        lost_results += got != [0]
    assert lost_results == 0, f'chunk 0 lost in {lost_results} of 50 runs'


# -- a worker that exits, or dies part way through a chunk --------------------

EXIT_ITEMS = 12
EXIT_BACKENDS = {
    'thread': {'backend': 'thread'},
    'process-fork': {'backend': 'process', 'start_method': 'fork'},
    'process-spawn': {'backend': 'process', 'start_method': 'spawn'},
}


def _delegate(kind: str, home: Path) -> Stash:
    return DictionaryStash() if kind == 'dict' else DirectoryStash(home)


@pytest.mark.parametrize('how', ['sys.exit', 'KeyboardInterrupt'])
@pytest.mark.parametrize('kind', ['dict', 'directory'])
@pytest.mark.parametrize('backend', list(EXIT_BACKENDS))
def test_a_worker_that_exits_costs_only_its_own_item(
        tmp_path: Path, backend: str, kind: str, how: str) -> None:
    rng = random.Random(f'{backend}-{kind}-{how}')
    runs = kept = 0
    for round_ in range(scaled(3)):
        quitting = rng.randrange(EXIT_ITEMS)
        delegate = _delegate(kind, tmp_path / f'round-{round_}')
        stash = Squares(delegate, EXIT_ITEMS, quitting={quitting},
                        interrupt=how == 'KeyboardInterrupt',
                        chunk_size=rng.randint(1, 5), workers=2,
                        **EXIT_BACKENDS[backend])
        with pytest.raises(ProcessingError) as info:
            stash.prime()
        assert info.value.keys == [str(quitting)]
        assert info.value.failures[0].error.startswith(
            'SystemExit' if how == 'sys.exit' else 'KeyboardInterrupt')
        others = {str(i) for i in range(EXIT_ITEMS)} - {str(quitting)}
        assert set(delegate.keys()) == others
        assert all(delegate.load(k) == int(k) ** 2 for k in others)
        runs += 1
        kept += len(others)
    record(f'worker-exit-{backend}-{kind}-{how}', runs=runs,
           items_kept=kept, items_lost=0)


def test_a_dead_worker_names_exactly_the_keys_not_stored(
        tmp_path: Path) -> None:
    rng = random.Random('died')
    kills = named = stored_before = 0
    for round_ in range(scaled(10)):
        delegate = DirectoryStash(tmp_path / f'round-{round_}')
        deadly = rng.randrange(EXIT_ITEMS)
        stash = Squares(delegate, EXIT_ITEMS, deadly={deadly},
                        kill_signal=rng.random() < 0.5,
                        chunk_size=rng.randint(2, 6), workers=1,
                        start_method='fork')
        with pytest.raises(WorkerDiedError) as info:
            stash.prime()
        kept = set(delegate.keys())
        assert str(deadly) in info.value.keys
        assert set(info.value.keys) == \
            {str(i) for i in range(EXIT_ITEMS)} - kept
        kills += 1
        named += len(info.value.keys)
        stored_before += len(kept)
    record('worker-died-names-unstored', kills=kills, keys_named=named,
           keys_kept=stored_before)
