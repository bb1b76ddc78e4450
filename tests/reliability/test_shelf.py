"""ShelveStash at the edges: kills, exits without close, full disks, damage.

* a writer SIGKILLed during a shelf's *first* write leaves a shelf that
  reads, writes, lists and clears -- through the stash and ``hutch``;
* stores into a shelf kept open (``auto_close=False``) are on disk when
  they return: a SIGKILL, or a program that exits without ``close()``,
  loses none of them;
* a stash dropped without ``close()`` lets go of the shelf at once;
* a store that fails on a full disk (``RLIMIT_FSIZE`` in a child) says so,
  naming the key and the shelf, and leaves nothing that makes the next
  store fail;
* a damaged index gives :class:`~hutch.errors.CorruptDataError` naming the
  file, never a huge allocation or a bare ``ValueError``.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    CorruptDataError,
    IncrementKeyDirectoryStash,
    PersistableError,
    ShelveStash,
)
from hutch.cli.main import main as hutch

from .procs import DONE, FORK, IN_FLIGHT, Killer, finish, progress_array
from .stashes import record, scaled

KILLS = scaled(25)


def _value(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (1 + (i * 997) % 2000)


# -- killed during the first write -------------------------------------------

def _first_writes(folder: str, start: int, progress: Any) -> None:
    i = start
    while True:
        progress[IN_FLIGHT] = i
        ShelveStash(os.path.join(folder, f'shelf{i}')).dump('k', _value(i))
        progress[DONE] = i
        i += 1


@pytest.mark.slow
def test_a_shelf_killed_during_its_first_write_stays_usable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killer = Killer(random.Random('first-write'), max_delay=0.005)
    start = 0
    without_index = kills = 0
    for _ in range(10 * KILLS):
        if kills == KILLS:
            break
        progress = progress_array()
        killer.run_and_kill(_first_writes, (str(tmp_path), start, progress),
                            progress, min_done=start)
        done, in_flight = progress[DONE], progress[IN_FLIGHT]
        start = in_flight + 1
        if in_flight == done:
            continue  # killed between two shelves
        kills += 1
        path = tmp_path / f'shelf{in_flight}'
        made = Path(f'{path}.dat').exists()
        if made and not Path(f'{path}.dir').exists():
            without_index += 1
        if made:  # else the kill came before the first file was made
            assert hutch(['ls', str(path)]) == 0
        stash = ShelveStash(path)
        keys = stash.keys()
        assert keys in ([], ['k'])
        assert stash.load('k') == (_value(in_flight) if keys else None)
        stash.dump('after', 1)
        assert stash.load('after') == 1
        assert hutch(['clear', '--yes', str(path)]) == 0
        stash.clear()
        assert not stash.files()
    assert kills == KILLS
    capsys.readouterr()
    for i in range(start):
        ShelveStash(tmp_path / f'shelf{i}').clear()
    assert [n for n in os.listdir(tmp_path) if not n.startswith('.')] == []
    record('shelf-killed-in-first-write', kills=KILLS,
           left_without_index=without_index)


def test_a_shelf_whose_index_was_never_written_is_an_empty_shelf(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / 'shelf'
    Path(f'{path}.dat').write_bytes(b'\x80' * 700)  # a store that never returned
    assert hutch(['ls', str(path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ['shelf.dat'], 'ls made a file'
    stash = ShelveStash(path)
    assert (stash.keys(), len(stash), stash.load('k')) == ([], 0, None)
    stash.dump('k', 'v')
    assert ShelveStash(path).load('k') == 'v'
    assert hutch(['clear', '--yes', str(path)]) == 0
    capsys.readouterr()
    assert os.listdir(tmp_path) == []


# -- kept open: killed, or exiting without close() ---------------------------

def _dump_and_wait(path: str, n: int, progress: Any) -> None:
    stash = ShelveStash(path, auto_close=False)
    for i in range(n):
        stash.dump(f'k{i}', i)
        progress[DONE] = i
    signal.pause()


def test_stores_into_a_kept_open_shelf_survive_a_kill(tmp_path: Path) -> None:
    path, n = tmp_path / 'shelf', 100
    progress = progress_array()
    proc = FORK.Process(target=_dump_and_wait, args=(str(path), n, progress))
    proc.start()
    try:
        deadline = 60.0
        while progress[DONE] < n - 1 and deadline > 0 and proc.is_alive():
            deadline -= 0.01
            proc.join(0.01)
    finally:
        proc.kill()
        proc.join(30)
    assert progress[DONE] == n - 1
    stash = ShelveStash(path)
    assert {k: stash.load(k) for k in stash.keys()} == \
        {f'k{i}': i for i in range(n)}
    record('shelf-kept-open-killed', dumps=n, kept=len(stash))


def test_a_program_exiting_without_close_keeps_its_shelf(
        tmp_path: Path) -> None:
    path = tmp_path / 'shelf'
    program = textwrap.dedent(f'''
        from hutch import ShelveStash
        stash = ShelveStash({str(path)!r}, auto_close=False)
        for i in range(100):
            stash.dump(f'k{{i}}', [i])
        stash.load('k0').append('changed in place')   # writeback
    ''')
    done = subprocess.run([sys.executable, '-c', program],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == '', done.stderr
    stash = ShelveStash(path)
    assert len(stash) == 100
    assert stash.load('k0') == [0, 'changed in place']
    assert stash.load('k99') == [99]


def test_a_dropped_unclosed_stash_lets_go_of_the_shelf(tmp_path: Path) -> None:
    path = tmp_path / 'shelf'

    def use() -> None:
        stash = ShelveStash(path, auto_close=False)
        stash.dump('a', [1])
        stash.load('a').append(2)

    use()
    assert ShelveStash(path, lock_timeout=0).load('a') == [1, 2]


# -- a full disk --------------------------------------------------------------

LIMIT = 1 << 20


def _store_on_a_full_disk(path: str, out: Any) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    stash = ShelveStash(path)
    stash.dump('small', 1)
    size = os.path.getsize(f'{path}.dat')
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    try:
        stash.dump('big', b'x' * (2 * LIMIT))
        out.put('stored')
    except PersistableError as e:
        out.put((str(e), e.key, str(e.path)))
    out.put(os.path.getsize(f'{path}.dat') - size)
    stash.dump('small-after', 2)
    out.put(stash.load('small-after'))


def test_a_store_failing_on_a_full_disk_says_so_and_leaves_nothing(
        tmp_path: Path) -> None:
    path = tmp_path / 'shelf'
    out = FORK.SimpleQueue()
    proc = FORK.Process(target=_store_on_a_full_disk, args=(str(path), out))
    proc.start()
    assert finish(proc) == 0
    message, key, where = out.get()
    assert 'cannot store' in message and 'File too large' in message
    assert (key, where) == ('big', str(path))
    assert out.get() == 0, 'partial data left in the .dat file'
    assert out.get() == 2
    stash = ShelveStash(path)
    assert sorted(stash.keys()) == ['small', 'small-after']


# -- a damaged index ----------------------------------------------------------

@pytest.mark.parametrize('line', [
    "'a', (0, 1000000000000000)",
    "'a', (-5, 3)",
    "'a', (0, -1)",
    "'a', (0.5, 3)",
    "'a', 'no entry'",
    "b'a', (0, 3)",
    "'a', (0, 3",
    '(' * 100000,
    "__import__('os').system('true')",
], ids=['huge', 'negative-offset', 'negative-size', 'float', 'no-entry',
        'bytes-key', 'unparsable', 'deep', 'code'])
def test_a_damaged_index_line_is_corrupt_data_naming_the_file(
        tmp_path: Path, line: str) -> None:
    path = tmp_path / 'shelf'
    ShelveStash(path).dump('fine', 1)
    with open(f'{path}.dir', 'a', encoding='latin-1') as f:
        f.write(line + '\n')
    with pytest.raises(CorruptDataError) as info:
        ShelveStash(path).load('a')
    assert info.value.path == f'{path}.dir'
    assert 'damaged shelf index, line 2' in str(info.value)


def test_an_index_cut_short_is_corrupt_data(tmp_path: Path) -> None:
    path = tmp_path / 'shelf'
    ShelveStash(path).dump('fine', 1)
    with open(f'{path}.dir', 'a', encoding='latin-1') as f:
        f.write("'a', (0, ")
    with pytest.raises(CorruptDataError, match='cut short'):
        ShelveStash(path).keys()


def _append_on_a_full_disk(folder: str, out: Any) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    stash = IncrementKeyDirectoryStash(folder)
    stash.dump('small')
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    try:
        stash.dump(b'x' * (2 * LIMIT))
        out.put('stored')
    except PersistableError as e:
        out.put((e.key, str(e.path)))
    stash.dump('small-after')
    out.put(sorted(os.listdir(folder)))


def test_an_increment_store_failing_on_a_full_disk_names_key_and_file(
        tmp_path: Path) -> None:
    out = FORK.SimpleQueue()
    proc = FORK.Process(target=_append_on_a_full_disk,
                        args=(str(tmp_path), out))
    proc.start()
    assert finish(proc) == 0
    assert out.get() == ('2', str(tmp_path / 'data-2.dat'))
    assert out.get() == ['data-1.dat', 'data-2.dat']
