"""Concurrency: many processes and threads on the same keys of one stash.

Writers (4 processes of 2 threads each, and 8 threads in one process) pick
random keys from a small shared set and dump, load, delete, clear, ask
``exists``/``keys``/``len`` for ``1.5 * HUTCH_RELIABILITY_SCALE`` seconds.
Every value read must be whole (a :func:`stashes.payload` that checks
out), no operation may raise, and when all have stopped each key must hold
what *some* writer did to it last -- the outcome of some serial order.

``@persisted`` to a file, asked for by 8 processes at the same moment, runs
its worker exactly once; the others load what it wrote.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional

import pytest

from hutch import CloseableStash, Stash

from .procs import FORK, SPAWN, finish
from .stashes import (
    DURABLE,
    Kind,
    check_payload,
    payload,
    record,
    scaled,
    scaled_seconds,
)

KEYS = [f'shared-{i}' for i in range(6)]
DURATION = scaled_seconds(1.5)

LastOp = Optional[list[int]]
"""What a writer last did to a key: ``[writer, seq]`` dumped, ``None`` deleted."""


def _hammer(stash: Stash, writer: int, until: float) -> dict[str, Any]:
    """Random operations until ``until``; this writer's last op per key."""
    rng = random.Random(writer)
    last: dict[str, LastOp] = {}
    ops = seq = 0
    while time.monotonic() < until:
        key = rng.choice(KEYS)
        roll = rng.random()
        if roll < 0.45:
            seq += 1
            stash.dump(key, payload(seq, writer, size=rng.choice(
                (64, 4096, 65536))))
            last[key] = [writer, seq]
        elif roll < 0.495:
            stash.delete(key)
            last[key] = None
        elif roll < 0.5:
            stash.clear()
            last.update(dict.fromkeys(KEYS))
        elif roll < 0.9:
            value = stash.load(key)
            if value is not None:
                check_payload(value)
        elif roll < 0.95:
            stash.exists(key)
        else:
            keys = list(stash.keys())
            assert set(keys) <= set(KEYS), f'strange keys: {keys}'
            len(stash)
        ops += 1
    return {'last': last, 'ops': ops}


def _threads(stash: Stash, writers: list[int], until: float
             ) -> list[dict[str, Any]]:
    """Run :func:`_hammer` in one thread per writer; errors are re-raised."""
    results: dict[int, dict[str, Any]] = {}
    errors: list[str] = []

    def run(writer: int) -> None:
        try:
            results[writer] = _hammer(stash, writer, until)
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), 'a writer thread hung'
    assert not errors, errors[0]
    return [results[w] for w in writers]


def _process(kind: Kind, home: Path, writers: list[int], start: float,
             report: Path) -> None:
    stash = kind.make(home)
    try:
        while time.time() < start:  # line up with the other processes
            time.sleep(0.001)
        results = _threads(stash, writers, time.monotonic() + DURATION)
    finally:
        if isinstance(stash, CloseableStash):
            stash.close()
    report.write_text(json.dumps(results))


def _check_final_state(stash: Stash, results: list[dict[str, Any]]) -> None:
    for key in KEYS:
        outcomes = [r['last'][key] for r in results if key in r['last']]
        value = stash.load(key)
        found = None if value is None else list(check_payload(value))
        if outcomes:
            assert found in outcomes, \
                f'{key}: {found} is no writer\'s last operation {outcomes}'
        else:
            assert found is None, f'{key}: nobody wrote {found}'
    present = sorted(k for k in KEYS if stash.load(k) is not None)
    assert sorted(stash.keys()) == present


@pytest.mark.slow
@pytest.mark.parametrize('kind', [k for k in DURABLE if k.processes],
                         ids=str)
def test_processes_and_threads_never_tear_or_lose_a_write(
        kind: Kind, tmp_path: Path) -> None:
    procs_n, threads_n = 4, 2
    start = time.time() + 1.0  # time for every child to start
    reports = [tmp_path / f'writer-{p}.json' for p in range(procs_n)]
    procs = [SPAWN.Process(target=_process, args=(
        kind, tmp_path, [p * threads_n + t for t in range(threads_n)],
        start, reports[p])) for p in range(procs_n)]
    for p in procs:
        p.start()
    assert [finish(p) for p in procs] == [0] * procs_n
    results = [r for path in reports for r in json.loads(path.read_text())]
    stash = kind.make(tmp_path)
    try:
        _check_final_state(stash, results)
    finally:
        if isinstance(stash, CloseableStash):
            stash.close()
    record(f'processes-{kind}', processes=procs_n,
           threads=procs_n * threads_n, seconds=DURATION,
           operations=sum(r['ops'] for r in results))


@pytest.mark.slow
@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_threads_sharing_one_stash_never_tear_or_lose_a_write(
        kind: Kind, tmp_path: Path) -> None:
    stash = kind.make(tmp_path)
    try:
        results = _threads(stash, list(range(8)),
                           time.monotonic() + DURATION)
        _check_final_state(stash, results)
    finally:
        if isinstance(stash, CloseableStash):
            stash.close()
    record(f'threads-{kind}', threads=8, seconds=DURATION,
           operations=sum(r['ops'] for r in results))


# -- @persisted from many processes -----------------------------------------

class _Expensive:
    """Persisted work that logs every run of its worker to a file."""

    def __init__(self, home: Path) -> None:
        from hutch.persisted import PersistedWork
        self.home = home
        self._answer = PersistedWork(home / 'data' / 'answer.dat', self,
                                     mkdir=True)

    def answer(self) -> dict[str, Any]:
        from hutch.persisted import persisted

        @persisted('_answer')
        def compute(self: _Expensive) -> dict[str, Any]:
            fd = os.open(self.home / 'runs.log',
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f'{os.getpid()}\n'.encode())
            os.close(fd)
            time.sleep(0.3)  # long enough for every other process to ask
            return payload(42, os.getpid())

        return compute(self)  # type: ignore[no-any-return]


def _ask(home: Path, start: float, report: Path) -> None:
    obj = _Expensive(home)
    while time.time() < start:
        time.sleep(0.001)
    report.write_text(json.dumps(obj.answer()))


@pytest.mark.slow
def test_persisted_work_asked_by_8_processes_runs_once(
        tmp_path: Path) -> None:
    n = 8
    start = time.time() + 1.5
    reports = [tmp_path / f'answer-{i}.json' for i in range(n)]
    procs = [SPAWN.Process(target=_ask, args=(tmp_path, start, reports[i]))
             for i in range(n)]
    for p in procs:
        p.start()
    assert [finish(p) for p in procs] == [0] * n
    runs = (tmp_path / 'runs.log').read_text().split()
    assert len(runs) == 1, f'the worker ran {len(runs)} times'
    answers = [json.loads(r.read_text()) for r in reports]
    assert all(a == answers[0] for a in answers)
    check_payload(answers[0])
    assert os.listdir(tmp_path / 'data') == ['answer.dat']
    record('persisted-8-processes', processes=n, worker_runs=len(runs))


# -- IncrementKeyDirectoryStash from many processes --------------------------

def _append(home: Path, writer: int, n: int, start: float) -> None:
    from hutch.stash.directory import IncrementKeyDirectoryStash
    stash = IncrementKeyDirectoryStash(home / 'data')
    while time.time() < start:
        time.sleep(0.001)
    for i in range(n):
        stash.dump(payload(i, writer, size=64))


@pytest.mark.slow
def test_increment_keys_are_never_handed_out_twice_across_processes(
        tmp_path: Path) -> None:
    from hutch.stash.directory import IncrementKeyDirectoryStash

    procs_n, n = 4, scaled(50)
    start = time.time() + 1.0
    procs = [SPAWN.Process(target=_append, args=(tmp_path, w, n, start))
             for w in range(procs_n)]
    for p in procs:
        p.start()
    assert [finish(p) for p in procs] == [0] * procs_n
    stash = IncrementKeyDirectoryStash(tmp_path / 'data')
    keys = sorted(stash.keys(), key=int)
    assert keys == [str(i) for i in range(1, procs_n * n + 1)] or \
        keys == [str(i) for i in range(procs_n * n)]
    written = sorted(check_payload(stash.load(k)) for k in keys)
    assert written == sorted((w, i) for w in range(procs_n)
                             for i in range(n))
    record('increment-keys-4-processes', processes=procs_n,
           keys=len(keys))


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_dumps_racing_a_clear_never_fail(kind: Kind, tmp_path: Path) -> None:
    """A ``clear()`` may take folders and temporary files away under a
    writer's feet; the writer's dump must still succeed (or be cleared)."""
    stash = kind.make(tmp_path)
    errors: list[str] = []
    rounds = scaled(150)

    def dumper(writer: int) -> None:
        try:
            for i in range(rounds):
                stash.dump(KEYS[i % len(KEYS)], payload(i, writer, 64))
        except BaseException:
            errors.append(traceback.format_exc())

    def clearer() -> None:
        try:
            for _ in range(rounds):
                stash.clear()
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=dumper, args=(w,)) for w in range(3)]
    threads.append(threading.Thread(target=clearer))
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors[0]
        for key in stash.keys():
            check_payload(stash.load(key))
    finally:
        if isinstance(stash, CloseableStash):
            stash.close()


def _race_clear(kind: Kind, home: Path, clear: bool, start: float,
                report: Path) -> None:
    """Dump (or, with ``clear``, dump and clear) in a loop from ``start``
    for a while; the first error's traceback goes to ``report``."""
    stash = kind.make(home)
    try:
        while time.time() < start:
            time.sleep(0.001)
        until = time.monotonic() + DURATION
        i = 0
        while time.monotonic() < until:
            stash.dump(KEYS[i % len(KEYS)], payload(i, int(clear), 64))
            if clear:
                stash.clear()
            else:
                stash.load(KEYS[(i + 1) % len(KEYS)])
            i += 1
        report.write_text('')
    except BaseException:
        report.write_text(traceback.format_exc())
    finally:
        if isinstance(stash, CloseableStash):
            stash.close()


@pytest.mark.slow
@pytest.mark.parametrize('kind', [k for k in DURABLE if k.processes],
                         ids=str)
def test_a_clear_in_another_process_never_shows_a_torn_store(
        kind: Kind, tmp_path: Path) -> None:
    """A ``clear()`` removes a store's files one by one; a process that
    opens the store meanwhile must find it whole or gone, never an index
    of the old store beside the data of a new one."""
    start = time.time() + 1.0
    reports = [tmp_path / f'racer-{n}.txt' for n in range(3)]
    procs = [SPAWN.Process(target=_race_clear, args=(
        kind, tmp_path, n == 0, start, reports[n])) for n in range(3)]
    for p in procs:
        p.start()
    assert [finish(p) for p in procs] == [0] * len(procs)
    errors = [r.read_text() for r in reports if r.read_text()]
    assert not errors, errors[0]


def _open_and_dump(kind: Kind, home: Path, writer: int, start: float,
                   errors: Any) -> None:
    while time.time() < start:
        pass  # spin: the point is to arrive at the same moment
    try:
        stash = kind.make(home)
        stash.dump(f'w{writer}', writer)
        if isinstance(stash, CloseableStash):
            stash.close()
    except Exception:
        errors.value += 1
        raise


@pytest.mark.slow
@pytest.mark.parametrize('kind', [k for k in DURABLE if k.processes],
                         ids=str)
def test_processes_creating_a_new_store_at_once_all_succeed(
        kind: Kind, tmp_path: Path) -> None:
    """Eight processes open a store that does not exist yet, at the same
    moment, many times over: every one of them gets to write."""
    n, rounds = 8, scaled(30)
    errors = FORK.RawValue('q', 0)
    for round_ in range(rounds):
        home = tmp_path / f'round-{round_}'
        start = time.time() + 0.05
        procs = [FORK.Process(target=_open_and_dump,
                              args=(kind, home, w, start, errors))
                 for w in range(n)]
        for p in procs:
            p.start()
        for p in procs:
            finish(p)
        assert errors.value == 0, f'round {round_}: a process failed'
        stash = kind.make(home)
        try:
            assert len(stash) == n
        finally:
            if isinstance(stash, CloseableStash):
                stash.close()
    record(f'create-at-once-{kind}', processes=n, rounds=rounds)
