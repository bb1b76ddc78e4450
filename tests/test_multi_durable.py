"""The MultiProcessStash family over the durable stashes its workers share:
``DirectoryStash`` and ``SqliteStash`` are written by the workers themselves
under every start method, survive a failed or killed run, and resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hutch import (
    DirectoryStash,
    ItemFailure,
    MultiProcessFactoryStash,
    ProcessingError,
    SqliteStash,
    Stash,
    WorkerDiedError,
)

from .multi_stashes import CubeFactory, Squares

KINDS = ['directory', 'sqlite']
START_METHODS = ['fork', 'spawn', 'forkserver']


def durable(kind: str, tmp_path: Path) -> Stash:
    """A fresh handle on the test's durable stash of ``kind``."""
    if kind == 'directory':
        return DirectoryStash(tmp_path / 'data')
    return SqliteStash(tmp_path / 'data.sqlite')


@pytest.mark.parametrize('start_method', START_METHODS)
@pytest.mark.parametrize('kind', KINDS)
def test_workers_build_a_durable_stash_under_every_start_method(
        kind: str, start_method: str, tmp_path: Path) -> None:
    delegate = durable(kind, tmp_path)
    assert delegate.shareable
    stash = MultiProcessFactoryStash(delegate, CubeFactory(12), chunk_size=3,
                                     workers=2, start_method=start_method)
    assert len(stash) == 12
    reopened = durable(kind, tmp_path)
    assert dict(reopened.items()) == {str(i): i ** 3 for i in range(12)}


@pytest.mark.parametrize('kind', KINDS)
def test_a_durable_build_resumes_from_a_new_process_handle(
        kind: str, tmp_path: Path) -> None:
    with pytest.raises(ProcessingError):
        MultiProcessFactoryStash(durable(kind, tmp_path),
                                 CubeFactory(8, bad={'5'}), chunk_size=2,
                                 workers=2).prime()
    calls = tmp_path / 'calls'
    calls.mkdir()
    factory = CubeFactory(8, calls)
    resumed = MultiProcessFactoryStash(durable(kind, tmp_path), factory,
                                       workers=2, start_method='spawn')
    assert resumed['5'] == 125 and len(resumed) == 8
    assert factory.calls_made() == ['5']


@pytest.mark.parametrize('kind', KINDS)
def test_failure_records_are_kept_durably_and_redone(
        kind: str, tmp_path: Path) -> None:
    factory = CubeFactory(6, bad={'3'})
    MultiProcessFactoryStash(durable(kind, tmp_path), factory, chunk_size=2,
                             workers=2, store_failures=True).prime()
    record = durable(kind, tmp_path).load('3')
    assert isinstance(record, ItemFailure) and 'cannot make 3' in record.error
    factory.bad = frozenset()
    later = MultiProcessFactoryStash(durable(kind, tmp_path), factory,
                                     workers=2)
    assert later.failed_keys() == ['3']
    assert later.redo_failed() == 1
    assert later['3'] == 27 and later.failed_keys() == []


@pytest.mark.parametrize('kind', KINDS)
def test_a_killed_worker_leaves_a_readable_durable_stash(
        kind: str, tmp_path: Path) -> None:
    stash = Squares(durable(kind, tmp_path), 6, deadly={4}, kill_signal=True,
                    chunk_size=1, workers=1)
    with pytest.raises(WorkerDiedError):
        stash.prime()
    reopened = durable(kind, tmp_path)
    assert sorted(reopened.keys()) == ['0', '1', '2', '3']
    assert [reopened.load(k) for k in '0123'] == [0, 1, 4, 9]
    if kind == 'directory':
        assert sorted(os.listdir(tmp_path / 'data')) == \
            ['0.dat', '1.dat', '2.dat', '3.dat']
