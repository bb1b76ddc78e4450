"""PersistedWork and @persisted keep their value in an object (a UPath)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from hutch import CorruptDataError, PersistedWork, persisted

from .conftest import S3Server


class Owner:
    pass


@pytest.fixture(params=['memory', 's3'])
def target(request: pytest.FixtureRequest, memory_url: str) -> UPath:
    if request.param == 'memory':
        return UPath(f'{memory_url}/value.pkl')
    server: S3Server = request.getfixturevalue('s3_server')
    url = request.getfixturevalue('s3_url')
    return UPath(f'{url}/value.pkl', **server.storage_options)


def _work(path: Any, calls: list[int], value: Any = 'computed',
          **kwargs: Any) -> PersistedWork:
    work = PersistedWork(path, Owner(), **kwargs)

    def compute() -> Any:
        calls.append(1)
        return value
    work.worker = compute
    return work


def test_the_value_is_stored_as_a_plain_pickle(target: UPath) -> None:
    calls: list[int] = []
    assert _work(target, calls)() == 'computed'
    assert pickle.loads(target.read_bytes()) == 'computed'
    assert _work(target, calls)() == 'computed'   # a new owner reads it
    assert calls == [1]


def test_clear_removes_the_object(target: UPath) -> None:
    calls: list[int] = []
    work = _work(target, calls)
    work()
    work.clear()
    assert not target.exists()
    assert work() == 'computed' and calls == [1, 1]


def test_a_version_change_recomputes(target: UPath) -> None:
    calls: list[int] = []
    _work(target, calls, version=1)()
    _work(target, calls, 'new', version=2)()
    assert _work(target, calls, version=2)() == 'new'
    assert calls == [1, 1]


def test_an_unreadable_object_names_its_url(target: UPath) -> None:
    target.write_bytes(b'junk')
    with pytest.raises(CorruptDataError) as info:
        _work(target, [])()
    assert str(target) in str(info.value)


def test_mmap_needs_a_local_file(target: UPath) -> None:
    with pytest.raises(ValueError, match='mmap'):
        PersistedWork(target, Owner(), mmap=True)


def test_the_work_pickles_and_reads_the_object_again(target: UPath) -> None:
    calls: list[int] = []
    work = _work(target, calls, transient=True)
    work()
    again = pickle.loads(pickle.dumps(work))
    again.worker = lambda: pytest.fail('recomputed')
    assert again() == 'computed'


def test_the_decorator_takes_a_upath_and_a_url(memory_url: str) -> None:
    calls: list[int] = []

    class Table:
        @persisted('_rows', UPath(f'{memory_url}/rows.pkl'))
        def rows(self) -> list[int]:
            calls.append(1)
            return [1, 2]

        @persisted('_cols', f'{memory_url}/cols.pkl')
        def cols(self) -> list[str]:
            calls.append(1)
            return ['a']

    assert Table().rows() == [1, 2] and Table().rows() == [1, 2]
    assert Table().cols() == ['a'] and Table().cols() == ['a']
    assert len(calls) == 2
    assert UPath(f'{memory_url}/cols.pkl').exists()


_RACE = '''
import sys, time
from upath import UPath
from hutch import PersistedWork
url, options, me = sys.argv[1], eval(sys.argv[2]), sys.argv[3]
class Owner:
    pass
work = PersistedWork(UPath(url, **options), Owner())
def compute():
    time.sleep(0.5)  # both hosts are computing at once
    return {'by': me, 'data': bytes(range(256)) * 4000}
work.worker = compute
print(work()['by'])
'''


def test_two_hosts_computing_one_value_store_one_whole(
        s3_server: S3Server, s3_url: str, tmp_path: Path) -> None:
    url = f'{s3_url}/shared.pkl'
    procs = []
    for me in ('a', 'b'):
        locks = tmp_path / f'locks-{me}'   # no lock in common: two hosts
        locks.mkdir()
        env = dict(os.environ, HUTCH_LOCK_DIR=str(locks))
        procs.append(subprocess.Popen(
            [sys.executable, '-c', _RACE, url,
             repr(s3_server.storage_options), me],
            env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert set(outs) <= {'a', 'b'}
    stored = pickle.loads(s3_server.raw_fs().cat_file(url))
    assert stored['by'] in ('a', 'b')
    assert stored['data'] == bytes(range(256)) * 4000
