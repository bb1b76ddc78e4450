"""MultiProcessStash on the local back ends: serial, threads, processes
under each start method, and executors passed in."""

from __future__ import annotations

import concurrent.futures as cf
import fcntl
import multiprocessing
import os
import pickle
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    DictionaryStash,
    MultiProcessDefaultStash,
    MultiProcessFactoryStash,
    PersistableError,
    ProcessingError,
    WorkerDiedError,
)

from .multi_behaviour import BackendBehaviour, Mode
from .multi_stashes import (
    ChunkLengths,
    CubeFactory,
    FileStash,
    Homesick,
    Squares,
    Tracked,
    Unpicklable,
    unpickled_alive,
)

START_METHODS = ['fork', 'spawn', 'forkserver']


@pytest.fixture(scope='module')
def user_executor() -> Iterator[cf.Executor]:
    ctx = multiprocessing.get_context('forkserver')
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as executor:
        yield executor


@pytest.fixture(scope='module')
def user_threads() -> Iterator[cf.Executor]:
    with cf.ThreadPoolExecutor(2) as executor:
        yield executor


LOCAL_MODES = ['serial', 'thread', 'process-fork', 'process-spawn',
               'process-forkserver', 'user-executor', 'user-threads']


class TestLocalBackends(BackendBehaviour):
    @pytest.fixture(params=LOCAL_MODES)
    def mode(self, request: pytest.FixtureRequest) -> Mode:
        name = request.param
        if name.startswith('process-'):
            return Mode({'backend': 'process',
                         'start_method': name.split('-')[1]})
        if name == 'user-executor':
            return Mode({'backend': request.getfixturevalue('user_executor')})
        if name == 'user-threads':
            return Mode({'backend': request.getfixturevalue('user_threads')},
                        in_process=True)
        return Mode({'backend': name}, in_process=True)


# -- dead and silent workers ----------------------------------------------

@pytest.mark.parametrize('start_method', START_METHODS)
def test_a_worker_that_exits_is_an_error_and_finished_chunks_stay(
        start_method: str) -> None:
    delegate = DictionaryStash()
    stash = Squares(delegate, 6, deadly={3}, chunk_size=1, workers=1,
                    start_method=start_method)
    with pytest.raises(WorkerDiedError) as info:
        stash.prime()
    assert '3' in info.value.keys
    assert {'0', '1', '2'} <= set(delegate.keys())
    assert '3' not in delegate.keys()


def test_a_dead_worker_names_only_the_keys_it_had_not_stored(
        tmp_path: Path) -> None:
    delegate = FileStash(tmp_path / 'data')
    stash = Squares(delegate, 4, deadly={2}, chunk_size=4, workers=1,
                    start_method='fork')
    with pytest.raises(WorkerDiedError) as info:
        stash.prime()
    assert sorted(delegate.keys()) == ['0', '1']
    assert sorted(info.value.keys) == ['2', '3']


INTERRUPTED_MODES = ['thread', 'process-fork', 'process-spawn',
                     'user-executor']


@pytest.mark.parametrize('name', INTERRUPTED_MODES)
def test_a_keyboard_interrupt_inside_a_worker_fails_only_its_item(
        name: str, request: pytest.FixtureRequest) -> None:
    kwargs: dict[str, Any] = {'backend': name}
    if name.startswith('process-'):
        kwargs = {'backend': 'process', 'start_method': name.split('-')[1]}
    elif name == 'user-executor':
        kwargs = {'backend': request.getfixturevalue('user_executor')}
    delegate = DictionaryStash()
    stash = Squares(delegate, 12, quitting={7}, interrupt=True, chunk_size=3,
                    workers=2, **kwargs)
    with pytest.raises(ProcessingError) as info:
        stash.prime()
    assert info.value.keys == ['7']
    assert 'KeyboardInterrupt' in info.value.failures[0].error
    assert len(delegate) == 11


def test_a_keyboard_interrupt_in_this_thread_stops_a_serial_run() -> None:
    delegate = DictionaryStash()
    stash = Squares(delegate, 6, quitting={4}, interrupt=True, chunk_size=2,
                    backend='serial')
    with pytest.raises(KeyboardInterrupt):
        stash.prime()
    assert sorted(delegate.keys()) == ['0', '1', '2', '3']


def test_a_script_whose_worker_calls_sys_exit_reports_the_key() -> None:
    script = ('from hutch import DictionaryStash\n'
              'from tests.multi_stashes import Squares\n'
              "if __name__ == '__main__':\n"
              '    d = DictionaryStash()\n'
              '    s = Squares(d, 12, quitting={5}, chunk_size=3, workers=2,\n'
              "                start_method='spawn')\n"
              '    try:\n'
              '        s.prime()\n'
              '    finally:\n'
              '        print(len(d))\n')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, cwd=Path(__file__).parent.parent,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == '11'
    assert "ProcessingError: Squares: 1 item failed: '5'" in proc.stderr


def test_a_worker_killed_by_a_signal_is_an_error() -> None:
    stash = Squares(DictionaryStash(), 4, deadly={2}, kill_signal=True,
                    chunk_size=2, workers=2, start_method='fork')
    with pytest.raises(WorkerDiedError) as info:
        stash.prime()
    assert {'2', '3'} <= set(info.value.keys)


def test_a_chunk_past_the_timeout_ends_the_run() -> None:
    stash = Squares(DictionaryStash(), 3, slow={1}, chunk_size=1, workers=1,
                    start_method='fork', timeout=1.0)
    with pytest.raises(WorkerDiedError, match='timeout') as info:
        stash.prime()
    assert info.value.keys == ['1', '2']


# -- resuming ---------------------------------------------------------------

def test_a_factory_run_resumes_where_a_failed_run_stopped(
        tmp_path: Path) -> None:
    delegate = FileStash(tmp_path / 'data')
    with pytest.raises(ProcessingError):
        MultiProcessFactoryStash(delegate, CubeFactory(6, bad={'2'}),
                                 chunk_size=2, workers=2).prime()
    assert sorted(delegate.keys()) == ['0', '1', '3', '4', '5']
    calls = tmp_path / 'calls'
    calls.mkdir()
    factory = CubeFactory(6, calls)
    resumed = MultiProcessFactoryStash(delegate, factory, workers=2)
    assert resumed['2'] == 8
    assert factory.calls_made() == ['2']


def test_a_failed_item_is_redone_from_the_error_keys() -> None:
    delegate = DictionaryStash()
    stash = Squares(delegate, 6, bad={1, 4}, chunk_size=3, workers=2)
    with pytest.raises(ProcessingError) as info:
        stash.prime()
    assert info.value.keys == ['1', '4'] or info.value.keys == ['4', '1']
    stash.bad = frozenset()
    assert stash.redo_failed(info.value.keys) == 2
    assert dict(delegate.data) == {str(i): i * i for i in range(6)}


def test_a_stash_whose_delegate_has_data_does_no_work() -> None:
    delegate = DictionaryStash({'x': 1})
    stash = Squares(delegate, 4, bad={0, 1, 2, 3})
    assert list(stash.keys()) == ['x']


def test_priming_happens_once_until_cleared(tmp_path: Path) -> None:
    calls = tmp_path / 'calls'
    calls.mkdir()
    factory = CubeFactory(3, calls)
    stash = MultiProcessFactoryStash(DictionaryStash(), factory,
                                     backend='serial')
    assert [stash['0'], stash['1'], len(stash)] == [0, 1, 3]
    assert factory.calls_made() == ['0', '1', '2']
    stash.clear()
    assert len(stash) == 3
    assert factory.calls_made() == ['0', '0', '1', '1', '2', '2']


# -- chunking and sizing ------------------------------------------------------

def test_chunk_size_zero_splits_evenly_over_the_workers() -> None:
    delegate = DictionaryStash()
    ChunkLengths(delegate, 7, workers=2, start_method='fork').prime()
    assert sorted(delegate.data.values()) == [3, 3, 3, 4, 4, 4, 4]


def test_chunk_size_sets_the_items_per_chunk() -> None:
    delegate = DictionaryStash()
    ChunkLengths(delegate, 7, chunk_size=3, backend='serial').prime()
    assert sorted(delegate.data.values()) == [1, 3, 3, 3, 3, 3, 3]


def test_an_empty_run_stores_nothing() -> None:
    delegate = DictionaryStash()
    Squares(delegate, 0).prime()
    assert len(delegate) == 0


@pytest.mark.parametrize('kwargs, error', [
    ({'workers': 1.5}, ValueError),
    ({'workers': 0.0}, ValueError),
    ({'workers': '2'}, TypeError),
    ({'workers': True}, TypeError),
    ({'chunk_size': -1}, ValueError),
    ({'chunk_size': 2.0}, TypeError),
    ({'backend': 'nope'}, ValueError),
    ({'backend': 42}, TypeError),
    ({'start_method': 'vfork'}, ValueError),
    ({'timeout': 0}, ValueError),
])
def test_bad_arguments_are_refused_at_construction(
        kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Squares(DictionaryStash(), 3, **kwargs)


@pytest.mark.parametrize('backend', ['thread', 'process', 'serial'])
def test_constructing_a_stash_builds_no_executor(backend: str) -> None:
    made: list[str] = []
    inits = {cf.ThreadPoolExecutor.__init__.__code__,
             cf.ProcessPoolExecutor.__init__.__code__}

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == 'call' and frame.f_code in inits:
            made.append(frame.f_code.co_qualname)

    sys.setprofile(watch)
    try:
        Squares(DictionaryStash(), 3, backend=backend, workers=2)
    finally:
        sys.setprofile(None)
    assert made == []


# -- pickling, progress -------------------------------------------------------

def test_a_stash_that_cannot_be_pickled_is_refused_clearly() -> None:
    class Local(MultiProcessDefaultStash):
        def _create_data(self) -> Iterable[int]:
            return range(2)

        def _process(self, chunk: Sequence[int]
                     ) -> Iterable[tuple[str, Any]]:
            return ((str(i), i) for i in chunk)

    with pytest.raises(PersistableError, match='picklable'):
        Local(DictionaryStash(), start_method='spawn').prime()


def test_a_pickled_stash_keeps_its_settings_but_not_its_executor(
        user_threads: cf.Executor) -> None:
    stash = Squares(DictionaryStash(), 3, chunk_size=2, workers=2,
                    backend=user_threads)
    copy = pickle.loads(pickle.dumps(stash))
    assert (copy.chunk_size, copy.workers, copy.backend) == (2, 2, 'serial')
    assert copy['2'] == 4


def test_progress_shows_a_bar_over_chunks(
        capsys: pytest.CaptureFixture[str]) -> None:
    Squares(DictionaryStash(), 4, chunk_size=2, backend='serial',
            progress=True).prime()
    err = capsys.readouterr().err
    assert 'Squares' in err and '2/2' in err


def test_no_progress_bar_when_output_is_not_a_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    Squares(DictionaryStash(), 4, chunk_size=2, backend='serial').prime()
    assert capsys.readouterr().err == ''




def test_a_chunk_whose_result_cannot_come_back_fails_alone() -> None:
    delegate = DictionaryStash()
    stash = Unpicklable(delegate, 6, bad={4}, chunk_size=2, workers=2,
                        start_method='fork')
    with pytest.raises(ProcessingError) as info:
        stash.prime()
    assert sorted(info.value.keys) == ['4', '5']
    assert 'pickle' in info.value.failures[0].traceback
    assert sorted(delegate.keys()) == ['0', '1', '2', '3']


def test_a_worker_that_cannot_load_the_stash_fails_every_item() -> None:
    stash = Homesick(DictionaryStash(), 3, chunk_size=2, start_method='spawn')
    with pytest.raises(ProcessingError) as info:
        stash.prime()
    assert sorted(info.value.keys) == ['0', '1', '2']
    assert 'cannot be loaded away from home' in \
        info.value.failures[0].traceback


def test_a_users_process_pool_keeps_no_stash_once_the_run_is_over(
) -> None:
    ctx = multiprocessing.get_context('forkserver')
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as executor:
        delegate = DictionaryStash()
        Tracked(delegate, 4, chunk_size=1, backend=executor).prime()
        assert len(delegate) == 4
        assert executor.submit(unpickled_alive).result() == 0


def test_an_executor_broken_by_an_earlier_run_is_an_error() -> None:
    ctx = multiprocessing.get_context('fork')
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as executor:
        with pytest.raises(WorkerDiedError):
            Squares(DictionaryStash(), 2, deadly={0},
                    backend=executor).prime()
        with pytest.raises(WorkerDiedError, match='broken') as info:
            Squares(DictionaryStash(), 2, backend=executor).prime()
    assert info.value.keys == ['0', '1']


def test_a_progress_bar_is_shown_when_stderr_is_a_terminal() -> None:
    script = ('from hutch import DictionaryStash\n'
              'from tests.multi_stashes import Squares\n'
              "Squares(DictionaryStash(), 4, chunk_size=1, backend='serial')"
              '.prime()\n')
    main, child = pty.openpty()
    # a new terminal is 0 columns wide: give the bar room to show
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
    try:
        proc = subprocess.run([sys.executable, '-c', script], stderr=child,
                              cwd=Path(__file__).parent.parent, timeout=60)
        os.close(child)
        child = -1
        out = b''
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:  # the terminal is closed once all is read
                break
            if not data:
                break
            out += data
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    assert proc.returncode == 0
    assert b'4/4' in out
