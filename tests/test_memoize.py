"""``@memoize``: what it keeps, how it keys calls, and one computation per key."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest

import hutch
from hutch import (
    CorruptDataError,
    DictionaryStash,
    DirectoryStash,
    LockTimeoutError,
    MemoEntry,
    SqliteStash,
    UnstorableResultError,
    memoize,
)

from .memo_functions import (
    computations,
    fib_in_child,
    gated_square,
    gated_square_in_child,
    key_in_child,
    note,
    square_in_child,
)
from .processes import run_all

SPAWN = multiprocessing.get_context('spawn')


class Calls:
    """A function that counts its calls."""

    def __init__(self, result: Any = None) -> None:
        self.count = 0
        self.result = result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return self.result if self.result is not None else (args, kwargs)


def counted(stash: hutch.Stash, **options: Any) -> tuple[Any, list[Any]]:
    seen: list[Any] = []

    @memoize(stash, **options)
    def f(x: Any, y: Any = 2, *, z: Any = None) -> Any:
        seen.append((x, y, z))
        return (x, y, z)
    return f, seen


# -- what is kept ------------------------------------------------------------

def test_a_second_call_reads_the_stored_result(tmp_path: Path) -> None:
    f, seen = counted(SqliteStash(tmp_path / 'm.db'))
    assert f(1) == f(1) == (1, 2, None)
    assert len(seen) == 1


def test_the_result_survives_a_new_decoration_of_the_same_code(
        tmp_path: Path) -> None:
    first, _ = counted(SqliteStash(tmp_path / 'm.db'))
    first(5)
    second, seen = counted(SqliteStash(tmp_path / 'm.db'))
    assert second(5) == (5, 2, None)
    assert seen == []


def test_a_path_stands_for_a_sqlite_stash(tmp_path: Path) -> None:
    f, seen = counted(tmp_path / 'memo.sqlite3')  # type: ignore[arg-type]
    f(1)
    f(1)
    assert len(seen) == 1
    assert len(SqliteStash(tmp_path / 'memo.sqlite3')) == 1


def test_none_is_a_result_like_any_other(tmp_path: Path) -> None:
    calls = Calls()
    f = memoize(SqliteStash(tmp_path / 'm.db'))(lambda: calls() and None)
    assert f() is None
    assert f() is None
    assert calls.count == 1


def test_an_exception_is_not_stored(tmp_path: Path) -> None:
    attempts: list[int] = []

    @memoize(SqliteStash(tmp_path / 'm.db'))
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError('first try fails')
        return x

    with pytest.raises(RuntimeError):
        flaky(3)
    assert flaky(3) == 3
    assert flaky(3) == 3
    assert attempts == [3, 3]


def test_an_unserializable_result_raises_naming_the_function(
        tmp_path: Path) -> None:
    @memoize(SqliteStash(tmp_path / 'm.db'))
    def make_lock() -> Any:
        return threading.Lock()

    with pytest.raises(UnstorableResultError, match='make_lock'):
        make_lock()


def test_warn_returns_an_unserializable_result_and_logs_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    @memoize(SqliteStash(tmp_path / 'm.db'), unstorable='warn')
    def make_lock() -> Any:
        return threading.Lock()

    with caplog.at_level(logging.WARNING, logger='hutch.memoize'):
        lock = make_lock()
    assert hasattr(lock, 'acquire')
    assert 'cannot store the result' in caplog.text


def test_one_stash_holds_many_functions(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'm.db')
    double = memoize(stash)(lambda x: 2 * x)

    @memoize(stash)
    def triple(x: int) -> int:
        return 3 * x

    assert (double(2), triple(2)) == (4, 6)
    assert (double(2), triple(2)) == (4, 6)
    assert len(stash) == 2


# -- keys --------------------------------------------------------------------

def test_positional_keyword_and_default_arguments_are_one_entry() -> None:
    f, seen = counted(DictionaryStash())
    f(1)
    f(x=1)
    f(1, 2)
    f(1, y=2, z=None)
    assert len(seen) == 1


def test_different_arguments_are_different_entries() -> None:
    f, seen = counted(DictionaryStash())
    for args in [(1,), (1.0,), (True,), ('1',), (1, 3)]:
        f(*args)
    assert len(seen) == 5


def test_ignored_arguments_are_left_out_of_the_key() -> None:
    f, seen = counted(DictionaryStash(), ignore=('y',))
    f(1, y='verbose')
    f(1, y='quiet')
    assert len(seen) == 1


def test_dicts_and_sets_are_keyed_whatever_their_order() -> None:
    f, seen = counted(DictionaryStash())
    f({'a': 1, 'b': {2, 3}})
    f({'b': {3, 2}, 'a': 1})
    assert len(seen) == 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_dataclasses_are_keyed_by_their_fields() -> None:
    f, seen = counted(DictionaryStash())
    f(Point(1, 2))
    f(Point(1, 2))
    f(Point(2, 1))
    assert len(seen) == 2


def test_an_unkeyable_argument_raises_type_error_naming_it() -> None:
    f, seen = counted(DictionaryStash())
    with pytest.raises(TypeError, match="argument 'y'.*lock"):
        f(1, threading.Lock())
    assert seen == []


def test_a_key_function_keys_what_the_arguments_cannot() -> None:
    f, seen = counted(DictionaryStash(), key=lambda x, y=2, z=None: x)
    f(1, threading.Lock())
    f(1, threading.Lock())
    assert len(seen) == 1


def test_an_ignore_name_the_function_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match='nope'):
        counted(DictionaryStash(), ignore=('nope',))


def test_keys_are_the_same_in_another_python_process() -> None:
    args = {'alpha': {'one', 'two', 'three'}, 'beta': ('x', 1.5, None)}
    results = SPAWN.Queue()
    assert run_all([SPAWN.Process(target=key_in_child,
                                  args=(args, results))]) == [0]
    child_key = results.get(timeout=10)
    results.close()
    results.join_thread()
    import tests.memo_functions as functions
    here = memoize(DictionaryStash(), ignore=('log',))(functions.slow_square)
    assert here.cache_key(args, 'log') == child_key  # type: ignore[arg-type]


# -- code versions -------------------------------------------------------------

def _load(tmp_path: Path, name: str, source: str) -> Any:
    """``f`` of a module written to a real file (so its source is read)."""
    import importlib.util
    path = tmp_path / f'{name}.py'
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


BODY = 'def f(x):\n    return x + 1\n'


def test_code_digest_ignores_moved_lines_and_comments(tmp_path: Path) -> None:
    from hutch._codedigest import code_digest
    moved = '\n\n# a comment\n\ndef f(x):  # why\n    # more\n    return x + 1\n'
    assert code_digest(_load(tmp_path, 'm1', BODY)) == \
        code_digest(_load(tmp_path, 'm2', moved))


def test_code_digest_changes_when_the_body_changes(tmp_path: Path) -> None:
    from hutch._codedigest import code_digest
    changed = 'def f(x):\n    return x + 2\n'
    assert code_digest(_load(tmp_path, 'm1', BODY)) != \
        code_digest(_load(tmp_path, 'm2', changed))


def test_a_changed_body_computes_again(tmp_path: Path) -> None:
    stash = DictionaryStash()
    memoize(stash)(_load(tmp_path, 'm1', BODY))(1)
    changed = memoize(stash)(_load(tmp_path, 'm1', BODY.replace('1', '2')))
    assert not changed.is_cached(1)
    assert changed(1) == 3


def test_a_pinned_version_ignores_the_body_until_it_changes(
        tmp_path: Path) -> None:
    stash = DictionaryStash()
    memoize(stash, version=1)(_load(tmp_path, 'm1', BODY))(1)
    edited = _load(tmp_path, 'm1', BODY.replace('1', '2'))
    assert memoize(stash, version=1)(edited).is_cached(1)
    assert not memoize(stash, version=2)(edited).is_cached(1)


# -- freshness -----------------------------------------------------------------

def _store_old_entry(f: Any, stash: hutch.Stash, age: float,
                     *args: Any) -> None:
    """Put an entry computed ``age`` seconds ago where ``f(*args)`` looks."""
    key = f.cache_key(*args)
    old = MemoEntry(f.memo.name, '(old)', time.time() - age, 0.1, f.memo.code,
                    'stale')
    stash.dump(key, old.to_stored())


def test_an_expired_entry_is_computed_again(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'm.db')
    f = memoize(stash, expire=60)(lambda x: 'fresh')
    _store_old_entry(f, stash, 120, 1)
    assert f(1) == 'fresh'


def test_an_entry_younger_than_expire_is_used(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'm.db')
    f = memoize(stash, expire=60)(lambda x: 'fresh')
    _store_old_entry(f, stash, 10, 1)
    assert f(1) == 'stale'


def test_validate_sees_the_entry_and_can_refuse_it(tmp_path: Path) -> None:
    seen: list[MemoEntry] = []

    def recent_only(entry: MemoEntry) -> bool:
        seen.append(entry)
        return entry.age < 60

    stash = SqliteStash(tmp_path / 'm.db')
    f = memoize(stash, validate=recent_only)(lambda x: 'fresh')
    _store_old_entry(f, stash, 120, 1)
    assert f(1) == 'fresh'
    assert seen[0].value == 'stale' and seen[0].args == '(old)'
    assert f(1) == 'fresh'


def test_each_entry_keeps_its_metadata(tmp_path: Path) -> None:
    @memoize(SqliteStash(tmp_path / 'm.db'))
    def area(w: float, h: float = 2.0) -> float:
        return w * h

    before = time.time()
    area(3.0, h=4.0)
    entry = area.cache_entry(3.0, h=4.0)
    assert entry is not None
    assert entry.function == f'{__name__}.{area.__qualname__}'
    assert entry.args == '(3.0, h=4.0)'
    assert entry.computed_at >= before and entry.duration >= 0
    assert entry.code == area.memo.code and entry.value == 12.0


def test_foreign_data_under_a_memo_key_is_an_error() -> None:
    stash = DictionaryStash()
    f = memoize(stash)(lambda x: x)
    stash.dump(f.cache_key(1), 'not an entry')
    with pytest.raises(CorruptDataError):
        f(1)


# -- counters, clearing, queries, read-only -------------------------------------

def test_cache_info_counts_hits_and_misses() -> None:
    f, _ = counted(DictionaryStash())
    f(1)
    f(1)
    f(2)
    assert f.cache_info() == hutch.CacheInfo(hits=1, misses=2)


def test_cache_clear_deletes_only_this_functions_entries(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'm.db')
    stash['unrelated'] = 1
    f, seen = counted(stash)
    g = memoize(stash)(lambda x: x)
    f(1)
    f(2)
    g(1)
    f.cache_clear()
    assert len(stash) == 2 and 'unrelated' in stash and g.is_cached(1)
    f(1)
    assert len(seen) == 3


def test_is_cached_answers_without_computing() -> None:
    f, seen = counted(DictionaryStash())
    assert not f.is_cached(1)
    f(1)
    assert f.is_cached(1) and f.is_cached(x=1)
    assert len(seen) == 1


def test_read_only_uses_stored_results_and_stores_nothing(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'm.db')
    writer, _ = counted(stash)
    writer(1)
    reader, seen = counted(stash, read_only=True)
    assert reader(1) == (1, 2, None) and seen == []
    assert reader(2) == (2, 2, None) and reader(2) == (2, 2, None)
    assert len(seen) == 2 and len(stash) == 1


# -- methods and async -------------------------------------------------------------

class Model:
    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.calls = 0

    @memoize(DictionaryStash(), ignore=('self',))
    def shared(self, x: int) -> int:
        self.calls += 1
        return x * 10


@dataclasses.dataclass
class Scaled:
    scale: int

    @memoize(DictionaryStash())
    def times(self, x: int) -> int:
        return x * self.scale


def test_a_method_memoizes_with_self_ignored() -> None:
    a, b = Model(1), Model(2)
    assert a.shared(3) == b.shared(3) == 30
    assert a.calls + b.calls == 1


def test_a_method_keys_a_keyable_instance() -> None:
    assert Scaled(2).times(5) == 10
    assert Scaled(3).times(5) == 15
    assert Scaled.times.cache_info().misses == 2


def test_an_async_function_stays_a_coroutine_function() -> None:
    @memoize(DictionaryStash())
    async def fetch(x: int) -> int:
        return x

    assert asyncio.iscoroutinefunction(fetch)


def test_an_async_result_is_computed_once(tmp_path: Path) -> None:
    seen: list[int] = []

    @memoize(SqliteStash(tmp_path / 'm.db'))
    async def fetch(x: int) -> Optional[int]:
        seen.append(x)
        await asyncio.sleep(0)
        return None

    async def main() -> list[Optional[int]]:
        return [await fetch(1), await fetch(1)]

    assert asyncio.run(main()) == [None, None]
    assert seen == [1]


# -- one computation per key ------------------------------------------------------

@pytest.mark.parametrize('kind', ['memory', 'sqlite'])
def test_tasks_wait_for_a_result_being_computed(
        tmp_path: Path, kind: str) -> None:
    seen: list[int] = []
    stash = DictionaryStash() if kind == 'memory' else \
        SqliteStash(tmp_path / 'm.db')

    @memoize(stash)
    async def fetch(x: int) -> int:
        seen.append(x)
        await asyncio.sleep(0.05)
        return x * 2

    async def main() -> list[int]:
        return await asyncio.gather(*(fetch(4) for _ in range(8)))

    assert asyncio.run(main()) == [8] * 8
    assert seen == [4]


@pytest.mark.parametrize('kind', ['memory', 'sqlite', 'directory'])
def test_threads_wait_for_a_result_being_computed(
        tmp_path: Path, kind: str) -> None:
    log = str(tmp_path / 'log')
    stash = {'memory': DictionaryStash,
             'sqlite': lambda: SqliteStash(tmp_path / 'm.db'),
             'directory': lambda: DirectoryStash(tmp_path / 'd')}[kind]()

    @memoize(stash, ignore=('log',))
    def work(x: int, log: str) -> int:
        note(log, str(x))
        time.sleep(0.1)
        return x + 1

    barrier = threading.Barrier(6)
    results: list[int] = []

    def caller() -> None:
        barrier.wait()
        results.append(work(1, log))

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [2] * 6
    assert computations(log) == ['1']


@pytest.mark.parametrize('kind', ['sqlite', 'directory'])
def test_processes_wait_for_a_result_being_computed(
        tmp_path: Path, kind: str) -> None:
    path = str(tmp_path / ('m.db' if kind == 'sqlite' else 'd'))
    log = str(tmp_path / 'log')
    barrier = SPAWN.Barrier(3)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=square_in_child,
                           args=(kind, path, log, barrier, results))
             for _ in range(3)]
    assert run_all(procs) == [0, 0, 0]
    assert sorted(results.get(timeout=10) for _ in procs) == [49, 49, 49]
    results.close()
    results.join_thread()
    assert computations(log) == ['square 7']


def test_lock_timeout_bounds_the_wait_for_another_process(
        tmp_path: Path) -> None:
    path, log, gate = (str(tmp_path / n) for n in ('m.db', 'log', 'gate'))
    child = SPAWN.Process(target=gated_square_in_child, args=(path, log, gate))
    child.start()
    try:
        deadline = time.monotonic() + 60
        while not computations(log) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child computes, holding the lock
        square = memoize(SqliteStash(path), ignore=('log', 'gate'),
                         lock_timeout=0.3)(gated_square)
        start = time.monotonic()
        with pytest.raises(LockTimeoutError, match='another process'):
            square(7, log, gate)
        assert 0.3 <= time.monotonic() - start < 10
    finally:
        Path(gate).touch()
        child.join(60)
    assert child.exitcode == 0
    assert square(7, log, gate) == 49  # the child's result, read
    assert computations(log) == ['gated 7']


# -- optional libraries ----------------------------------------------------------

def test_memoizing_does_not_import_numpy_or_pandas() -> None:
    code = ('import sys, hutch\n'
            'f = hutch.memoize(hutch.DictionaryStash())(lambda x: x)\n'
            'f({"a": [1, 2.5]}); f({"a": [1, 2.5]})\n'
            'assert f.cache_info().hits == 1\n'
            'print(sorted(m for m in ("numpy", "pandas") if m in sys.modules))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


@pytest.mark.timeout(120)
def test_a_recursive_function_on_a_shared_stash_finishes(
        tmp_path: Path) -> None:
    @memoize(SqliteStash(tmp_path / 'm.db'))
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(100) == _fib_number(100)
    assert fib.cache_info().misses == 101


def _fib_number(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


@pytest.mark.timeout(120)
def test_a_recursive_function_on_a_shared_stash_frees_its_locks_for_threads(
        tmp_path: Path) -> None:
    # the nested calls take the locks of their keys; once the outermost
    # returns, another thread computes each of those keys again, as an
    # outermost call (which waits for its lock), without waiting
    @memoize(SqliteStash(tmp_path / 'm.db'))
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(80) == _fib_number(80)
    fib.cache_clear()
    results: list[int] = []
    thread = threading.Thread(
        target=lambda: results.extend(fib(k) for k in range(81)), daemon=True)
    thread.start()
    thread.join(30)
    assert results == [_fib_number(k) for k in range(81)]
    assert fib.cache_info().misses == 81


@pytest.mark.timeout(120)
def test_a_recursive_function_on_a_shared_stash_frees_its_locks_for_processes(
        tmp_path: Path) -> None:
    # the same, for the bytes of the lock file: a process computing each
    # of the same keys after this one finished never waits
    path = str(tmp_path / 'm.db')
    here: list[int] = []

    class Put:
        put = here.append

    fib_in_child(path, 80, threading.Barrier(1), Put())
    assert here == [_fib_number(80)]
    SqliteStash(path).clear()
    barrier, results = SPAWN.Barrier(1), SPAWN.Queue()
    child = SPAWN.Process(target=fib_in_child,
                          args=(path, 80, barrier, results, True))
    assert run_all([child], timeout=60) == [0]
    assert results.get(timeout=10) == _fib_number(80)
    results.close()
    results.join_thread()


def test_recursive_functions_in_processes_sharing_a_stash_finish(
        tmp_path: Path) -> None:
    path = str(tmp_path / 'm.db')
    barrier = SPAWN.Barrier(2)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=fib_in_child,
                           args=(path, 120, barrier, results))
             for _ in range(2)]
    assert run_all(procs) == [0, 0]
    a, b = 0, 1
    for _ in range(120):
        a, b = b, a + b
    assert [results.get(timeout=10) for _ in procs] == [a, a]
    results.close()
    results.join_thread()


def test_a_result_too_big_for_a_bounded_stash_raises_unstorable(
        tmp_path: Path) -> None:
    @memoize(SqliteStash(tmp_path / 'm.db', max_bytes=1_000))
    def blob(n: int) -> bytes:
        return bytes(n)

    assert blob(10) == bytes(10)
    with pytest.raises(UnstorableResultError, match='max_bytes'):
        blob(5_000)


def test_misses_on_a_shared_stash_leave_one_lock_file_per_function(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    # the lock that keeps processes from computing one call twice is a
    # byte of one file per stash and function, not a file per key
    from hutch import SqliteStash, memoize

    @memoize(SqliteStash(tmp_path / 'db.sqlite3'))
    def double(n: int) -> int:
        return n * 2

    @memoize(SqliteStash(tmp_path / 'db.sqlite3'))
    def triple(n: int) -> int:
        return n * 3

    assert [double(i) for i in range(300)] == [i * 2 for i in range(300)]
    assert triple(1) == 3
    assert len(list(_private_lock_dir.iterdir())) == 2
