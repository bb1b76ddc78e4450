"""File primitives: atomic writes and inter-process locks, with real processes."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from hutch import LockTimeoutError, PersistableError
from hutch._files import (
    atomic_write,
    atomic_writer,
    is_temp_name,
    read_file,
    remove_stale_temps,
)
from hutch._locks import FileLock, lock_dir

MP = multiprocessing.get_context(
    'fork' if 'fork' in multiprocessing.get_all_start_methods() else 'spawn')
WAIT = 20.0  # the most any test waits for another process


def _write_then_hang(path: str, ready: Any) -> None:
    with atomic_writer(path) as f:
        f.write(b'half of the new ')
        f.flush()
        ready.set()
        threading.Event().wait(WAIT)  # killed before this returns
        f.write(b'content')


def _hold_lock(path: str, lock_dir: str, ready: Any, go: Any) -> None:
    os.environ['HUTCH_LOCK_DIR'] = lock_dir
    with FileLock(path):
        ready.set()
        go.wait(WAIT)


def _try_lock(path: str, lock_dir: str, timeout: float) -> str:
    os.environ['HUTCH_LOCK_DIR'] = lock_dir
    try:
        with FileLock(path, timeout=timeout):
            return 'acquired'
    except LockTimeoutError:
        return 'timed out'


def _try_lock_in_child(path: str, lock_dir: str, timeout: float,
                       out: Any) -> None:
    out.put(_try_lock(path, lock_dir, timeout))


def _run_child(target: Any, *args: Any) -> Any:
    proc = MP.Process(target=target, args=args)
    proc.start()
    return proc


def _stop(proc: Any) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join(WAIT)


# -- atomic writes -----------------------------------------------------------

def test_atomic_write_leaves_only_the_file(tmp_path: Path) -> None:
    atomic_write(tmp_path / 'x.dat', b'data')
    assert os.listdir(tmp_path) == ['x.dat']
    assert (tmp_path / 'x.dat').read_bytes() == b'data'


def test_atomic_write_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / 'x.dat'
    target.write_bytes(b'old')
    atomic_write(target, b'new')
    assert target.read_bytes() == b'new'
    assert os.listdir(tmp_path) == ['x.dat']


def test_atomic_write_accepts_str_paths_and_empty_data(tmp_path: Path) -> None:
    atomic_write(str(tmp_path / 'e'), b'', durable=True)
    assert (tmp_path / 'e').read_bytes() == b''


def test_atomic_write_of_large_data_is_complete(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    atomic_write(tmp_path / 'big', data)
    assert (tmp_path / 'big').read_bytes() == data


def test_atomic_write_into_a_missing_folder_raises_and_creates_nothing(
        tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / 'no' / 'x.dat', b'data')
    assert os.listdir(tmp_path) == []


def test_atomic_write_leaves_no_temp_when_the_rename_fails(
        tmp_path: Path) -> None:
    blocker = tmp_path / 'x.dat'
    blocker.mkdir()
    (blocker / 'inside').touch()
    with pytest.raises(OSError):
        atomic_write(blocker, b'data')
    assert os.listdir(tmp_path) == ['x.dat']


def test_atomic_writer_leaves_no_temp_on_success(tmp_path: Path) -> None:
    with atomic_writer(tmp_path / 'x.dat', durable=True) as f:
        f.write(b'data')
    assert os.listdir(tmp_path) == ['x.dat']
    assert (tmp_path / 'x.dat').read_bytes() == b'data'


def test_atomic_writer_keeps_the_old_file_when_the_block_raises(
        tmp_path: Path) -> None:
    target = tmp_path / 'x.dat'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as f:
            f.write(b'partial')
            raise RuntimeError('worker failed')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['x.dat']


def test_atomic_writer_makes_nothing_when_the_block_raises(
        tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(tmp_path / 'x.dat') as f:
            f.write(b'partial')
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_killed_writer_leaves_the_old_file_and_a_recognisable_temp(
        tmp_path: Path) -> None:
    target = tmp_path / 'x.dat'
    target.write_bytes(b'old')
    ready = MP.Event()
    proc = _run_child(_write_then_hang, str(target), ready)
    try:
        assert ready.wait(WAIT)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _stop(proc)
    assert target.read_bytes() == b'old'
    others = [n for n in os.listdir(tmp_path) if n != 'x.dat']
    assert len(others) == 1 and is_temp_name(others[0])
    assert remove_stale_temps(tmp_path) == 1
    assert os.listdir(tmp_path) == ['x.dat']


def test_temp_names_are_hidden_and_marked() -> None:
    assert is_temp_name('.x.dat.123.4.hutch-tmp')
    assert not is_temp_name('x.dat.123.4.hutch-tmp')
    assert not is_temp_name('.x.dat')


def test_remove_stale_temps_spares_kept_and_other_files(tmp_path: Path) -> None:
    for name in ('.a.1.0.hutch-tmp', '.b.1.0.hutch-tmp', 'a', '.hidden'):
        (tmp_path / name).touch()
    removed = remove_stale_temps(tmp_path, of=lambda f: not f.startswith('b'))
    assert removed == 1
    assert sorted(os.listdir(tmp_path)) == ['.b.1.0.hutch-tmp', '.hidden', 'a']


def test_remove_stale_temps_of_a_missing_folder_is_zero(tmp_path: Path) -> None:
    assert remove_stale_temps(tmp_path / 'none') == 0


# -- reads -------------------------------------------------------------------

@pytest.mark.parametrize('size', [0, 1, (1 << 16) - 1, 1 << 16, (1 << 16) + 1,
                                  3 << 20])
def test_read_file_returns_every_byte(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / 'f').write_bytes(data)
    assert read_file(tmp_path / 'f') == data


def test_read_file_of_a_missing_file_or_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / 'missing')
    with pytest.raises(IsADirectoryError):
        read_file(tmp_path)


# -- locks -------------------------------------------------------------------

def test_lock_leaves_nothing_beside_the_data(tmp_path: Path) -> None:
    with FileLock(tmp_path / 'data.dat') as lock:
        assert os.listdir(tmp_path) == []
        assert lock.lock_path.parent == lock_dir()
    assert os.listdir(tmp_path) == []


def test_lock_dir_follows_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(tmp_path / 'locks'))
    assert lock_dir() == tmp_path / 'locks'
    assert (tmp_path / 'locks').is_dir()


def test_a_held_lock_times_out_a_second_holder_naming_the_path(
        tmp_path: Path) -> None:
    data = tmp_path / 'data.dat'
    with FileLock(data):
        with pytest.raises(LockTimeoutError) as info:
            FileLock(data, timeout=0.05).acquire()
    assert str(data) in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, PersistableError)


def test_locks_on_other_paths_do_not_conflict(tmp_path: Path) -> None:
    with FileLock(tmp_path / 'a'):
        with FileLock(tmp_path / 'b', timeout=0.05):
            pass


def test_lock_excludes_another_process(tmp_path: Path, _private_lock_dir: Path
                                       ) -> None:
    data = str(tmp_path / 'data.dat')
    out = MP.Queue()
    with FileLock(data):
        proc = _run_child(_try_lock_in_child, data, str(_private_lock_dir),
                          0.1, out)
        try:
            assert out.get(timeout=WAIT) == 'timed out'
        finally:
            _stop(proc)
    assert _try_lock(data, str(_private_lock_dir), 0.1) == 'acquired'


def test_lock_is_free_again_once_the_holder_releases(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    data = str(tmp_path / 'data.dat')
    ready, go = MP.Event(), MP.Event()
    proc = _run_child(_hold_lock, data, str(_private_lock_dir), ready, go)
    try:
        assert ready.wait(WAIT)
        assert _try_lock(data, str(_private_lock_dir), 0.05) == 'timed out'
        go.set()
        proc.join(WAIT)
        assert _try_lock(data, str(_private_lock_dir), WAIT) == 'acquired'
    finally:
        _stop(proc)


def test_lock_is_released_when_its_holder_is_killed(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    data = str(tmp_path / 'data.dat')
    ready, go = MP.Event(), MP.Event()
    proc = _run_child(_hold_lock, data, str(_private_lock_dir), ready, go)
    try:
        assert ready.wait(WAIT)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(WAIT)
        assert _try_lock(data, str(_private_lock_dir), WAIT) == 'acquired'
    finally:
        _stop(proc)


def test_shared_locks_coexist_and_exclude_a_writer(tmp_path: Path) -> None:
    data = tmp_path / 'data.dat'
    with FileLock(data, shared=True), FileLock(data, shared=True, timeout=0.05):
        with pytest.raises(LockTimeoutError):
            FileLock(data, timeout=0.05).acquire()


def test_lock_serialises_threads_read_modify_write(tmp_path: Path) -> None:
    counter = tmp_path / 'counter'
    counter.write_text('0')

    def bump() -> None:
        for _ in range(50):
            with FileLock(counter, timeout=WAIT):
                n = int(counter.read_text())
                atomic_write(counter, str(n + 1).encode())

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert counter.read_text() == '200'


def test_release_without_acquire_is_a_noop(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / 'x')
    lock.release()
    with lock:
        pass
    lock.release()


def test_a_pickled_lock_is_unheld_and_usable(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / 'x', timeout=0.05)
    with lock:
        copy = pickle.loads(pickle.dumps(lock))
        assert copy.lock_path == lock.lock_path
        with pytest.raises(LockTimeoutError):
            copy.acquire()
    with copy:
        pass


def _open_fds() -> int:
    return len(os.listdir('/proc/self/fd'))


@pytest.mark.skipif(not os.path.isdir('/proc/self/fd'), reason='needs /proc')
def test_an_interrupted_wait_keeps_no_descriptor(tmp_path: Path) -> None:
    data = tmp_path / 'data.dat'

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with FileLock(data):
        before = _open_fds()
        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(KeyboardInterrupt):
                FileLock(data, timeout=WAIT).acquire()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert _open_fds() == before


@pytest.mark.skipif(not os.path.isdir('/proc/self/fd'), reason='needs /proc')
def test_a_timed_out_acquire_keeps_no_descriptor(tmp_path: Path) -> None:
    data = tmp_path / 'data.dat'
    with FileLock(data):
        before = _open_fds()
        with pytest.raises(LockTimeoutError):
            FileLock(data, timeout=0.01).acquire()
        assert _open_fds() == before


def test_lock_works_after_its_folder_was_cleaned_away(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(tmp_path / 'locks'))
    lock = FileLock(tmp_path / 'data.dat')
    with lock:
        pass
    (tmp_path / 'locks').rmdir()
    with lock:
        assert lock.lock_path.exists()
