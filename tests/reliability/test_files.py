"""The file primitives under SIGKILL and across processes.

* :func:`hutch._files.atomic_write` (and ``atomic_writer``): a writer
  killed at a random moment leaves the target holding a whole old or new
  value, never a torn one; its leftovers are only temporary files that
  :func:`~hutch._files.is_temp_name` recognizes.
* :class:`hutch._locks.FileLock`: excludes across processes, and the kernel
  releases it when its holder is SIGKILLed.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from hutch import LockTimeoutError
from hutch._files import (
    atomic_write,
    atomic_writer,
    is_temp_name,
    remove_stale_temps,
)
from hutch._locks import FileLock

from .procs import (
    DONE,
    FORK,
    IN_FLIGHT,
    SPAWN,
    Killer,
    finish,
    progress_array,
)
from .stashes import open_fds, record, scaled

KILLS = scaled(60)


def _content(seq: int) -> bytes:
    """Between 1 KiB and 1 MiB, derived from ``seq`` so tearing shows."""
    size = 1024 << (seq % 11)
    unit = hashlib.sha256(str(seq).encode()).digest()
    return f'{seq:012d}'.encode() + (unit * (size // len(unit)))


def _read_seq(data: bytes) -> int:
    seq = int(data[:12])
    assert data == _content(seq), f'torn file: seq {seq}, {len(data)} bytes'
    return seq


def _write_forever(path: str, start: int, progress: Any,
                   streaming: bool) -> None:
    seq = start
    while True:
        progress[IN_FLIGHT] = seq
        if streaming:
            data = _content(seq)
            with atomic_writer(path) as f:
                for i in range(0, len(data), 4096):
                    f.write(data[i:i + 4096])
        else:
            atomic_write(path, _content(seq))
        progress[DONE] = seq
        seq += 1


@pytest.mark.slow
@pytest.mark.parametrize('streaming', [False, True],
                         ids=['atomic_write', 'atomic_writer'])
def test_a_killed_writer_leaves_the_old_or_the_new_value(
        tmp_path: Path, streaming: bool) -> None:
    target = tmp_path / 'value.bin'
    rng = random.Random(f'atomic-{streaming}')
    killer = Killer(rng)
    seq = stale = 0
    survived = mid_write = 0
    for _ in range(KILLS):
        progress = progress_array()
        killer.run_and_kill(_write_forever,
                            (str(target), seq, progress, streaming),
                            progress, min_done=seq)
        found = _read_seq(target.read_bytes())
        done, in_flight = progress[DONE], progress[IN_FLIGHT]
        assert found in (done, in_flight), (found, done, in_flight)
        names = os.listdir(tmp_path)
        assert [n for n in names if not is_temp_name(n)] == ['value.bin']
        mid_write += len(names) - 1 - stale
        stale = len(names) - 1
        survived += 1
        seq = in_flight + 1
    assert survived == KILLS
    record(f'atomic-{"writer" if streaming else "write"}', kills=survived,
           killed_mid_write=mid_write)
    remove_stale_temps(tmp_path)
    assert os.listdir(tmp_path) == ['value.bin']


def test_a_failed_atomic_writer_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / 'value.bin'
    atomic_write(target, b'old')
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as f:
            f.write(b'new, half written')
            raise RuntimeError('worker failed')
    assert os.listdir(tmp_path) == ['value.bin']
    assert target.read_bytes() == b'old'


def _count_under_lock(data: str, rounds: int, errors: Any) -> None:
    """Increment a counter file ``rounds`` times, read-modify-write.

    Inside the lock the child also creates a marker with ``O_EXCL``: if two
    holders ever overlap, one of them fails to create it.
    """
    marker = data + '.inside'
    for _ in range(rounds):
        with FileLock(data, timeout=60):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                errors.value += 1
                continue
            count = int(Path(data).read_text())
            time.sleep(0.0002)
            Path(data).write_text(str(count + 1))
            os.close(fd)
            os.unlink(marker)


@pytest.mark.slow
def test_file_lock_excludes_across_processes(tmp_path: Path) -> None:
    data = tmp_path / 'counter'
    data.write_text('0')
    procs_n, rounds = 4, scaled(100)
    errors = SPAWN.RawValue('q', 0)
    procs = [SPAWN.Process(target=_count_under_lock,
                           args=(str(data), rounds, errors))
             for _ in range(procs_n)]
    for p in procs:
        p.start()
    assert [finish(p) for p in procs] == [0] * procs_n
    assert errors.value == 0, 'two processes held the lock at once'
    assert int(data.read_text()) == procs_n * rounds


def _hold_lock(data: str, held: Any) -> None:
    lock = FileLock(data, timeout=10)
    lock.acquire()
    held.set()
    time.sleep(60)  # until killed


@pytest.mark.slow
def test_a_file_lock_is_released_when_its_holder_is_killed(
        tmp_path: Path) -> None:
    data = tmp_path / 'guarded.dat'
    held = FORK.Event()
    proc = FORK.Process(target=_hold_lock, args=(str(data), held),
                        daemon=True)
    proc.start()
    try:
        assert held.wait(30), 'the child never took the lock'
        with pytest.raises(LockTimeoutError):
            FileLock(data, timeout=0.05).acquire()
    finally:
        proc.kill()
        proc.join(30)
    with FileLock(data, timeout=10):
        pass


def test_a_file_lock_leaves_nothing_beside_the_data(tmp_path: Path) -> None:
    data = tmp_path / 'guarded.dat'
    with FileLock(data):
        assert os.listdir(tmp_path) == []
    assert os.listdir(tmp_path) == []



@pytest.mark.parametrize('timeout, error', [
    ('1', TypeError), (True, TypeError), ([], TypeError), (-1, ValueError)],
    ids=['str', 'bool', 'list', 'negative'])
def test_a_file_lock_with_a_bad_timeout_fails_at_construction(
        tmp_path: Path, timeout: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        FileLock(tmp_path / 'x', timeout=timeout)


def test_a_timed_out_file_lock_leaks_no_descriptor(tmp_path: Path) -> None:
    data = tmp_path / 'guarded.dat'
    before = open_fds()
    with FileLock(data):
        for _ in range(20):
            with pytest.raises(LockTimeoutError):
                FileLock(data, timeout=0).acquire()
    assert open_fds() == before
