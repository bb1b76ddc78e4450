"""The lock that avoids computing a value twice, against a hostile host.

:class:`~hutch._locks.FileLock` (behind ``PersistedWork``) keeps its files
in a folder outside the data.  Another local user may make that folder
first and plant symlinks in it, a temporary-file cleaner may sweep it, and a
long-running program may lock thousands of paths.  None of it may make hutch
create files where someone else chooses, hang, run the work twice or leave
lock files behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hutch import LockTimeoutError, PersistableError, PersistedWork
from hutch._locks import FileLock, lock_dir

from .procs import FORK, finish
from .stashes import record, scaled

NOBODY = 65534


class Owner:
    pass


def _plant(folder: Path, data: Path, target: Path) -> None:
    """What an attacker leaves: the lock file of ``data`` as a symlink."""
    name = FileLock(data).lock_path.name
    (folder / name).symlink_to(target)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to chown')
def test_a_lock_folder_made_first_by_another_user_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / 'hutch-locks-0'
    folder.mkdir()
    folder.chmod(0o777)
    os.chown(folder, NOBODY, NOBODY)
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(folder))
    target = tmp_path / 'victim-file'
    _plant(folder, tmp_path / 'a.dat', target)
    with pytest.raises(PersistableError, match='owned by uid 65534') as info:
        FileLock(tmp_path / 'a.dat', timeout=1).acquire()
    assert info.value.path == folder
    assert not target.exists() and not target.is_symlink()


def test_a_lock_folder_others_can_write_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / 'locks'
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(folder))
    with pytest.raises(PersistableError, match='writable by no one else'):
        lock_dir()
    with pytest.raises(PersistableError, match='mode 777'):
        FileLock(tmp_path / 'a.dat').acquire()


def test_a_lock_folder_that_is_a_symlink_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(mode=0o700)
    (tmp_path / 'locks').symlink_to(elsewhere)
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(tmp_path / 'locks'))
    with pytest.raises(PersistableError, match='not a folder of its own'):
        FileLock(tmp_path / 'a.dat').acquire()
    assert os.listdir(elsewhere) == []


def test_a_symlink_planted_as_a_lock_file_is_never_followed(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    target = tmp_path / 'victim-file'
    _plant(_private_lock_dir, tmp_path / 'a.dat', target)
    with pytest.raises(PersistableError, match='lock file'):
        FileLock(tmp_path / 'a.dat', timeout=1).acquire()
    assert not target.exists()


def test_computed_then_cleared_values_leave_no_lock_file(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    n = scaled(2000)
    for i in range(n):
        work = PersistedWork(tmp_path / f'v{i}.dat', Owner())
        work.worker = lambda i=i: i
        assert work() == i
        work.clear()
    assert os.listdir(_private_lock_dir) == []
    assert os.listdir(tmp_path) == []
    record('locks-no-litter', computed_and_cleared=n, lock_files_left=0)


def test_one_path_through_a_symlink_and_its_real_path_is_one_lock(
        tmp_path: Path) -> None:
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    with FileLock(tmp_path / 'real' / 'a.dat'):
        with pytest.raises(LockTimeoutError):
            FileLock(tmp_path / 'link' / 'a.dat', timeout=0.05).acquire()


def _hold(data: str, held: Any) -> None:
    with FileLock(data):
        held.set()
        time.sleep(60)  # until killed


def test_a_timeout_says_which_process_holds_the_lock(tmp_path: Path) -> None:
    data = tmp_path / 'a.dat'
    held = FORK.Event()
    proc = FORK.Process(target=_hold, args=(str(data), held), daemon=True)
    proc.start()
    try:
        assert held.wait(30)
        with pytest.raises(LockTimeoutError,
                           match=f'held by process {proc.pid} on '):
            FileLock(data, timeout=0.05).acquire()
    finally:
        proc.kill()
        proc.join(30)


def test_persisted_work_waits_a_finite_time_by_default(tmp_path: Path) -> None:
    work = PersistedWork(tmp_path / 'a.dat', Owner())
    assert work.lock_timeout is not None and work.lock_timeout > 0


# -- a temporary-file cleaner sweeping while a lock is held -----------------

def _compute(data: str, runs: str, started: Any, delay: float) -> None:
    work = PersistedWork(Path(data), Owner())

    def worker() -> str:
        with open(runs, 'a') as f:
            f.write(f'{os.getpid()}\n')
        started.set()
        time.sleep(delay)
        return 'value'

    work.worker = worker
    assert work() == 'value'


@pytest.mark.slow
@pytest.mark.skipif(shutil.which('systemd-tmpfiles') is None,
                    reason='needs the systemd-tmpfiles cleaner')
def test_a_temp_cleaner_sweeping_a_held_lock_does_not_run_the_work_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, runs = tmp_path / 'data' / 'v.dat', tmp_path / 'runs'
    data.parent.mkdir()
    swept = tmp_path / 'tmp'  # stands for the system's temporary folder
    locks = swept / 'hutch-locks'
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(locks))
    config = tmp_path / 'clean.conf'
    # clean everything in the temporary folder, at any age
    config.write_text(f'd {swept} - - - 0\n')
    started = FORK.Event()
    first = FORK.Process(target=_compute,
                         args=(str(data), str(runs), started, 1.5))
    first.start()
    assert started.wait(30)
    subprocess.run(['systemd-tmpfiles', '--clean', str(config)], check=True,
                   capture_output=True)
    second = FORK.Process(target=_compute,
                          args=(str(data), str(runs), FORK.Event(), 0))
    second.start()
    assert [finish(first), finish(second)] == [0, 0]
    assert len(runs.read_text().split()) == 1, 'the work ran twice'
    assert os.listdir(locks) == []
