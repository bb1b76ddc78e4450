"""PersistedWork, @persisted and @resource: lookup order, files, versions,
errors, threads and processes."""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    CorruptDataError,
    Deallocatable,
    LockTimeoutError,
    PersistableError,
    PersistedWork,
    persisted,
)
from hutch._locks import FileLock

SPAWN = multiprocessing.get_context('spawn')


class Owner:
    """A plain object to own persisted work."""


class Counter:
    """A worker that counts its runs."""

    def __init__(self, value: Any = 'v') -> None:
        self.value = value
        self.runs = 0

    def __call__(self, *args: Any) -> Any:
        self.runs += 1
        return self.value


class Res(Deallocatable):
    """A value that records being deallocated."""

    freed = False

    def deallocate(self) -> None:
        super().deallocate()
        self.freed = True


def make_work(path: str | Path, counter: Counter, owner: object = None,
              **kwargs: Any) -> PersistedWork:
    work = PersistedWork(path, Owner() if owner is None else owner, **kwargs)
    work.worker = counter
    return work


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- lookup order -------------------------------------------------------------

def test_the_worker_runs_once_then_the_instance_value_is_returned() -> None:
    counter = Counter([1, 2])
    work = make_work('x', counter)
    first = work()
    assert work() is first
    assert counter.runs == 1


def test_a_str_path_keeps_the_value_in_memory_only(in_tmp: Path) -> None:
    work = make_work('data.dat', Counter())
    assert work() == 'v'
    assert list(in_tmp.iterdir()) == []


def test_a_path_writes_a_plain_pickle_of_the_value(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter({'a': 1}))()
    with open(path, 'rb') as f:
        assert pickle.load(f) == {'a': 1}


def test_a_new_owner_reads_the_file_instead_of_running_the_worker(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('first'))()
    later = Counter('second')
    assert make_work(path, later)() == 'first'
    assert later.runs == 0


def test_a_file_written_by_pickle_dump_is_read(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    with open(path, 'wb') as f:
        pickle.dump([3, 4], f, protocol=2)
    counter = Counter()
    assert make_work(path, counter)() == [3, 4]
    assert counter.runs == 0


def test_a_relative_path_is_taken_from_the_current_folder(
        in_tmp: Path) -> None:
    make_work(Path('rel.dat'), Counter(5))()
    assert [p.name for p in in_tmp.iterdir()] == ['rel.dat']


def test_a_stored_none_is_a_value_not_a_miss() -> None:
    counter = Counter(None)
    work = make_work('x', counter)
    assert work() is None
    assert work() is None
    assert counter.runs == 1


def test_call_arguments_reach_the_worker() -> None:
    work = PersistedWork('x', Owner())
    work.worker = lambda a, b=0: a + b
    assert work(1, b=2) == 3


def test_a_subclass_can_do_the_work_in_do_work() -> None:
    class Answer(PersistedWork):
        def __do_work__(self, *args: Any, **kwargs: Any) -> Any:
            return 42

    assert Answer('x', Owner())() == 42


def test_work_without_a_worker_raises() -> None:
    with pytest.raises(PersistableError, match='no worker'):
        PersistedWork('x', Owner())()


# -- global cache -------------------------------------------------------------

def test_cache_global_shares_the_value_among_instances_of_a_class() -> None:
    class A:
        pass

    counter = Counter(object())
    first = make_work('g', counter, A(), cache_global=True)()
    assert make_work('g', counter, A(), cache_global=True)() is first
    assert counter.runs == 1


def test_cache_global_is_never_shared_across_classes() -> None:
    class A:
        pass

    class B(A):
        pass

    counter = Counter()
    make_work('g', counter, A(), cache_global=True)()
    make_work('g', counter, B(), cache_global=True)()
    assert counter.runs == 2


def test_without_cache_global_instances_do_not_share() -> None:
    class A:
        pass

    counter = Counter()
    make_work('g', counter, A())()
    make_work('g', counter, A())()
    assert counter.runs == 2


def test_clear_global_forgets_only_the_global_value() -> None:
    class A:
        pass

    counter = Counter()
    work = make_work('g', counter, A(), cache_global=True)
    work()
    work.clear_global()
    assert work() == 'v'
    assert counter.runs == 1
    make_work('g', counter, A(), cache_global=True)()
    assert counter.runs == 2


# -- set, is_set, clear, initial_value ----------------------------------------

def test_is_set_tells_whether_a_value_is_at_hand() -> None:
    work = make_work('x', Counter())
    assert not work.is_set()
    work()
    assert work.is_set()


def test_the_value_is_kept_by_the_work_not_set_on_the_owner() -> None:
    owner = Owner()
    work = PersistedWork('_x', owner)
    work.worker = lambda: 1
    work()
    assert work.is_set()
    assert not hasattr(owner, work.varname)


def test_set_replaces_the_value_without_running_the_worker() -> None:
    counter = Counter()
    work = make_work('x', counter)
    work.set('given')
    assert work() == 'given'
    assert counter.runs == 0


def test_set_also_fills_the_global_cache() -> None:
    class A:
        pass

    counter = Counter()
    make_work('g', counter, A(), cache_global=True).set('given')
    other = make_work('g', counter, A(), cache_global=True)
    assert other.is_set()
    assert other() == 'given'
    assert counter.runs == 0


def test_initial_value_means_the_worker_never_runs() -> None:
    counter = Counter()
    work = make_work('x', counter, initial_value=7)
    assert work() == 7
    assert counter.runs == 0


def test_clear_forgets_instance_global_and_file(tmp_path: Path) -> None:
    class A:
        pass

    path = tmp_path / 'data.dat'
    counter = Counter()
    work = make_work(path, counter, A(), cache_global=True)
    work()
    work.clear()
    assert not path.exists()
    assert not work.is_set()
    assert not make_work(path, counter, A(), cache_global=True).is_set()
    work()
    assert counter.runs == 2


def test_clear_without_a_file_is_harmless(tmp_path: Path) -> None:
    make_work(tmp_path / 'never.dat', Counter()).clear()
    assert list(tmp_path.iterdir()) == []


# -- folders, atomicity, errors -----------------------------------------------

def test_mkdir_creates_missing_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / 'a' / 'b' / 'data.dat'
    make_work(path, Counter(1), mkdir=True)()
    assert path.is_file()


def test_a_missing_folder_raises_naming_it_before_the_worker_runs(
        tmp_path: Path) -> None:
    counter = Counter()
    folder = tmp_path / 'absent'
    with pytest.raises(PersistableError, match='does not exist') as info:
        make_work(folder / 'data.dat', counter)()
    assert info.value.path == folder
    assert counter.runs == 0


def test_a_failing_worker_leaves_no_file_and_is_retried(
        tmp_path: Path) -> None:
    calls = []

    def worker() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError('first try fails')
        return 'ok'

    work = PersistedWork(tmp_path / 'data.dat', Owner())
    work.worker = worker
    with pytest.raises(RuntimeError):
        work()
    assert list(tmp_path.iterdir()) == []
    assert work() == 'ok'
    assert [p.name for p in tmp_path.iterdir()] == ['data.dat']


def test_an_unpicklable_value_raises_naming_the_path_and_leaves_nothing(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    with pytest.raises(PersistableError, match='cannot pickle') as info:
        make_work(path, Counter(threading.Lock()))()
    assert info.value.path == path
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_file_raises_corrupt_data_error_naming_it(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    path.write_bytes(b'this is not a pickle')
    with pytest.raises(CorruptDataError) as info:
        make_work(path, Counter())()
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_a_truncated_file_raises_corrupt_data_error(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    path.write_bytes(pickle.dumps(list(range(100)))[:-20])
    with pytest.raises(CorruptDataError):
        make_work(path, Counter())()


def test_an_empty_file_is_corrupt_by_default(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    path.touch()
    with pytest.raises(CorruptDataError, match='empty file'):
        make_work(path, Counter())()


def test_recover_empty_recomputes_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    path.touch()
    counter = Counter('fresh')
    assert make_work(path, counter, recover_empty=True)() == 'fresh'
    assert counter.runs == 1
    assert pickle.loads(path.read_bytes()) == 'fresh'


def test_a_killed_writer_leaves_no_file_under_the_real_name(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    proc = SPAWN.Process(target=_die_while_pickling, args=(str(path),))
    proc.start()
    proc.join(60)
    if proc.is_alive():  # the bomb did not go off: fail, leaving nothing
        proc.kill()
        proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    assert not path.exists()
    # and the dead process's lock was released with it
    counter = Counter('after')
    assert make_work(path, counter, lock_timeout=10)() == 'after'


# -- versions -----------------------------------------------------------------

def test_a_versioned_file_is_reused_under_the_same_version(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('one'), version='1')()
    later = Counter('two')
    assert make_work(path, later, version='1')() == 'one'
    assert later.runs == 0


def test_a_changed_version_recomputes_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('one'), version=1)()
    assert make_work(path, Counter('two'), version=2)() == 'two'
    assert make_work(path, Counter('three'), version=2)() == 'two'


def test_a_versioned_file_starts_with_a_readable_header(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('one'), version='v1')()
    header, _, rest = path.read_bytes().partition(b'\n')
    assert header == b"#hutch-version 'v1'"
    assert pickle.loads(rest) == 'one'


def test_a_plain_file_is_stale_to_a_versioned_work(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('plain'))()
    assert make_work(path, Counter('new'), version='1')() == 'new'


def test_a_versioned_file_is_stale_to_an_unversioned_work(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('versioned'), version='1')()
    assert make_work(path, Counter('plain'))() == 'plain'
    assert pickle.loads(path.read_bytes()) == 'plain'


def test_str_and_int_versions_differ(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    make_work(path, Counter('int'), version=1)()
    assert make_work(path, Counter('str'), version='1')() == 'str'


def test_a_truncated_version_header_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    path.write_bytes(b"#hutch-version '1")
    with pytest.raises(CorruptDataError, match='version header'):
        make_work(path, Counter(), version='1')()


# -- argument checks ----------------------------------------------------------

@pytest.mark.parametrize('kwargs, error', [
    ({'path': 3}, TypeError),
    ({'owner': None}, TypeError),
    ({'version': 1.5}, TypeError),
    ({'version': True}, TypeError),
    ({'lock_timeout': -1}, ValueError),
    ({'lock_timeout': '1'}, TypeError),
])
def test_bad_arguments_fail_at_construction(
        kwargs: dict[str, Any], error: type[Exception]) -> None:
    args: dict[str, Any] = {'path': 'x', 'owner': Owner(), **kwargs}
    with pytest.raises(error):
        PersistedWork(**args)


@pytest.mark.parametrize('args, error', [
    ((3,), TypeError),
    (('not a name',), ValueError),
    (('_x', 3), TypeError),
])
def test_bad_decorator_arguments_fail_at_once(
        args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        persisted(*args)


# -- pickling and deallocation ------------------------------------------------

def test_pickled_work_keeps_its_value_but_not_its_owner() -> None:
    work = make_work('x', Counter([1]))
    work()
    copy = pickle.loads(pickle.dumps(work))
    assert copy.owner is None
    assert copy() == [1]


def test_pickled_transient_work_drops_its_value() -> None:
    work = make_work('x', Counter(threading.Lock()), transient=True)
    work()
    copy = pickle.loads(pickle.dumps(work))
    assert not copy.is_set()


def test_deallocate_frees_the_value_and_forgets_it_but_keeps_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    work = make_work(path, Counter(Res()), cache_global=True)
    value = work()
    work.deallocate()
    assert value.freed
    assert not work.is_set()
    assert work.owner is None
    assert path.exists()


def test_deallocate_recursive_frees_values_inside_containers() -> None:
    items = [Res(), Res()]
    work = make_work('x', Counter(items), deallocate_recursive=True)
    work()
    work.deallocate()
    assert all(r.freed for r in items)


def test_repr_says_where_the_value_lives(tmp_path: Path) -> None:
    assert 'memory' in repr(PersistedWork('x', Owner()))
    assert 'data.dat' in repr(PersistedWork(tmp_path / 'data.dat', Owner()))


# -- the @persisted decorator -------------------------------------------------

class Shape:
    def __init__(self, side: int) -> None:
        self.side = side
        self.runs = 0

    @property
    @persisted('_area')
    def area(self) -> int:
        """The area of the square."""
        self.runs += 1
        return self.side ** 2



def test_persisted_computes_once_per_instance() -> None:
    shape = Shape(3)
    assert (shape.area, shape.area) == (9, 9)
    assert shape.runs == 1
    assert Shape(4).area == 16


def test_persisted_puts_a_persisted_work_at_the_attribute() -> None:
    shape = Shape(3)
    _ = shape.area
    assert isinstance(shape._area, PersistedWork)  # type: ignore[attr-defined]
    shape._area.clear()  # type: ignore[attr-defined]
    assert shape.area == 9
    assert shape.runs == 2


def test_persisted_keeps_the_methods_name_doc_and_annotations() -> None:
    getter = Shape.area.fget
    assert getter is not None
    assert getter.__name__ == 'area'
    assert getter.__doc__ == 'The area of the square.'
    assert getter.__annotations__ == {'return': 'int'}
    assert getter.__wrapped__.__name__ == 'area'  # type: ignore[attr-defined]


@pytest.mark.parametrize('signature', [
    'self, n', 'self, n=3', 'self, *args', 'self, **kwargs',
    'self, *, force=False', 'self, /, n', '*args', ''])
def test_persisted_refuses_a_method_that_takes_arguments(
        signature: str) -> None:
    # one value is kept per instance, so v(3) and v(4) would both give the
    # value of the first call
    space: dict[str, Any] = {}
    exec(f'def v({signature}): return 10', space)
    with pytest.raises(TypeError, match=r"must take only self; got v\("):
        persisted('_v')(space['v'])


def test_persisted_on_a_method_with_arguments_fails_at_class_creation(
        ) -> None:
    with pytest.raises(TypeError, match=r"'_v'.*Holder\.v\(self, n"):
        class Holder:
            @persisted('_v')
            def v(self, n: int) -> int:
                return n * 10


def test_persisted_accepts_a_method_of_self_alone() -> None:
    class Holder:
        @persisted('_v')
        def v(self, /) -> int:
            return 10
    assert Holder().v() == 10


def test_persisted_above_property_says_to_put_it_below() -> None:
    with pytest.raises(TypeError, match='below @property'):
        class Holder:
            @persisted('_v')  # type: ignore[arg-type]
            @property
            def v(self) -> int:
                return 10


@pytest.mark.parametrize('wrapper', [staticmethod, classmethod,
                                     functools.cached_property])
def test_persisted_above_another_descriptor_is_refused(wrapper: Any) -> None:
    def v(self: Any) -> int:
        return 10
    with pytest.raises(TypeError, match=f'{wrapper.__name__}'):
        persisted('_v')(wrapper(v))


def test_persisted_refuses_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match='int'):
        persisted('_v')(3)  # type: ignore[type-var]


def test_persisted_uses_the_work_made_in_init(tmp_path: Path) -> None:
    path = tmp_path / 'side.dat'

    class Stored:
        def __init__(self) -> None:
            self._side = PersistedWork(path, self)

        @persisted('_side')
        def side(self) -> int:
            return 5

    assert Stored().side() == 5
    assert pickle.loads(path.read_bytes()) == 5


def test_persisted_path_stores_the_value_in_that_file(tmp_path: Path) -> None:
    path = tmp_path / 'sub' / 'value.dat'

    class Stored:
        @persisted('_value', str(path), mkdir=True, version='2')
        def value(self) -> str:
            return 'saved'

    assert Stored().value() == 'saved'
    assert path.read_bytes().startswith(b"#hutch-version '2'\n")


def test_persisted_cache_global_shares_among_instances() -> None:
    runs = []

    class Shared:
        @property
        @persisted('_value', cache_global=True)
        def value(self) -> object:
            runs.append(1)
            return object()

    assert Shared().value is Shared().value
    assert len(runs) == 1


def test_persisted_refuses_an_attribute_that_is_not_persisted_work() -> None:
    class Clash:
        def __init__(self) -> None:
            self._value = 'taken'

        @persisted('_value')
        def value(self) -> int:
            return 1

    with pytest.raises(PersistableError, match='not a PersistedWork'):
        Clash().value()


def test_persisted_works_on_a_class_without_instance_dict() -> None:
    class Slotted:
        __slots__ = ('_value',)

        @persisted('_value')
        def value(self) -> list[int]:
            return [1]

    obj = Slotted()
    assert obj.value() is obj.value()


def test_persisted_work_is_tracked_by_default(tracking: None) -> None:
    _ = Shape(2).area
    assert Deallocatable._num_deallocations() == 1


def test_persisted_allocation_track_false_marks_it_deallocated(
        tracking: None) -> None:
    class Untracked:
        @persisted('_value', allocation_track=False)
        def value(self) -> int:
            return 1

    Untracked().value()
    assert Deallocatable._num_deallocations() == 0


def test_persisted_rebinds_work_that_lost_its_owner() -> None:
    shape = Shape(3)
    _ = shape.area
    shape._area.deallocate()  # type: ignore[attr-defined]
    assert shape.area == 9
    assert shape._area.owner is shape  # type: ignore[attr-defined]


# -- threads ------------------------------------------------------------------

THREADS = 8


def run_together(call: Callable[[], Any]) -> list[Any]:
    """Run ``call`` in THREADS threads released at once; return results."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(call())
        except BaseException as e:  # reported by the test below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    return results


class SlowCounter(Counter):
    def __call__(self, *args: Any) -> Any:
        self.runs += 1
        time.sleep(0.05)  # widen the window for a second worker run
        return object()


def test_concurrent_first_calls_run_the_worker_once() -> None:
    counter = SlowCounter()
    work = make_work('x', counter)
    results = run_together(work)
    assert counter.runs == 1
    assert all(r is results[0] for r in results)


def test_concurrent_first_calls_on_a_file_run_the_worker_once(
        tmp_path: Path) -> None:
    counter = SlowCounter()
    work = make_work(tmp_path / 'data.dat', counter)
    results = run_together(work)
    assert counter.runs == 1
    assert all(r is results[0] for r in results)
    assert [p.name for p in tmp_path.iterdir()] == ['data.dat']


def test_concurrent_first_calls_through_the_decorator_run_once() -> None:
    runs: list[int] = []

    class Lazy:
        @property
        @persisted('_value')
        def value(self) -> object:
            runs.append(1)
            time.sleep(0.05)
            return object()

    obj = Lazy()
    results = run_together(lambda: obj.value)
    assert len(runs) == 1
    assert all(r is results[0] for r in results)


# -- processes ----------------------------------------------------------------

PROCESSES = 8


def _slow_answer(log: str) -> dict[str, int]:
    with open(log, 'a') as f:
        f.write(f'{os.getpid()}\n')
    time.sleep(0.3)
    return {'answer': 42, 'pid': os.getpid()}


def _race_for_file(data: str, log: str, barrier: Any, results: Any) -> None:
    work = PersistedWork(Path(data), Owner(), lock_timeout=60)
    work.worker = functools.partial(_slow_answer, log)
    barrier.wait(timeout=60)
    results.put(work())


def test_concurrent_processes_run_the_worker_once_and_share_the_file(
        tmp_path: Path) -> None:
    data_dir = tmp_path / 'data'
    data_dir.mkdir()
    data = data_dir / 'answer.dat'
    log = tmp_path / 'runs.log'
    barrier = SPAWN.Barrier(PROCESSES)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=_race_for_file,
                           args=(str(data), str(log), barrier, results))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=90) for _ in procs]
    except queue.Empty:
        pytest.fail('a process gave no result')
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():  # never leave a stray process behind
                p.kill()
                p.join(10)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    runs = log.read_text().split()
    assert len(runs) == 1
    assert got == [{'answer': 42, 'pid': int(runs[0])}] * PROCESSES
    assert [p.name for p in data_dir.iterdir()] == ['answer.dat']


class _Bomb:
    """Kills its process while being pickled."""

    def __reduce__(self) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # not reached
        return (_Bomb, ())


def _die_while_pickling(data: str) -> None:
    work = PersistedWork(Path(data), Owner())
    work.worker = lambda: ['start', _Bomb()]
    work()


def test_lock_timeout_bounds_the_wait_for_another_writer(
        tmp_path: Path) -> None:
    path = tmp_path / 'data.dat'
    counter = Counter()
    with FileLock(path):
        with pytest.raises(LockTimeoutError):
            make_work(path, counter, lock_timeout=0.1)()
    assert counter.runs == 0


def test_write_describes_the_work_computing_its_value() -> None:
    work = PersistedWork('_value', Owner(), cache_global=True)
    work.worker = lambda: [1, 2]
    out = io.StringIO()
    work.write(indent=2, include_content=True, writer=out)
    assert out.getvalue() == (
        f'  {work.varname}:\n   global: True\n   transient: False\n'
        "   type: <class 'list'>\n   content: [1, 2]\n")
    assert work.is_set()
    work.clear_global()


def test_set_takes_its_value_under_the_original_keyword() -> None:
    work = PersistedWork('_value', Owner())
    work.set(obj=5)
    assert work() == 5
