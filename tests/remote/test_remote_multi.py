"""Building a stash on object storage from worker processes and Dask workers,
and resuming a build that was interrupted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster

from hutch import DirectoryStash, MultiProcessFactoryStash, WorkerDiedError

from ..multi_stashes import CubeFactory
from .conftest import S3Server


class DeadlyCubes(CubeFactory):
    """A :class:`CubeFactory` whose ``deadly`` keys kill the worker making
    them, as a machine lost in the middle of a build."""

    def __init__(self, n: int, deadly: set[str]) -> None:
        super().__init__(n)
        self.deadly = frozenset(deadly)

    def load(self, name: str) -> Any:
        if name in self.deadly:
            os._exit(3)
        return super().load(name)


def _cubes(n: int) -> dict[str, int]:
    return {str(i): i ** 3 for i in range(n)}


@pytest.fixture
def s3(s3_url: str, s3_server: S3Server) -> DirectoryStash:
    return DirectoryStash(s3_url, storage_options=s3_server.storage_options)


def test_worker_processes_write_straight_to_s3_and_a_build_resumes(
        s3: DirectoryStash, tmp_path: Path) -> None:
    assert s3.shareable
    for key in ('0', '3', '5'):   # a half-built run
        s3.dump(key, int(key) ** 3)
    calls = tmp_path / 'calls'
    calls.mkdir()
    factory = CubeFactory(8, calls)
    stash = MultiProcessFactoryStash(s3, factory, chunk_size=2, workers=2,
                                     backend='process')
    assert len(stash) == 8
    assert factory.calls_made() == ['1', '2', '4', '6', '7']
    assert s3.load_many(sorted(_cubes(8))) == _cubes(8)


def test_a_memory_delegate_gets_the_values_back_from_the_workers(
        memory_url: str) -> None:
    delegate = DirectoryStash(memory_url)
    assert not delegate.shareable  # its data lives in this process only
    stash = MultiProcessFactoryStash(delegate, CubeFactory(6), chunk_size=2,
                                     workers=2, backend='process')
    assert dict(stash.items()) == _cubes(6)


@pytest.fixture(scope='module')
def client() -> Iterator[Client]:
    # a task whose worker dies is not retried: the build stops at once
    with dask.config.set({'distributed.scheduler.allowed-failures': 0}), \
            LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                         dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def test_dask_workers_build_into_s3_and_resume_after_losing_a_worker(
        client: Client, s3_url: str, s3_server: S3Server,
        tmp_path: Path) -> None:
    options = s3_server.storage_options
    n = 12
    first = MultiProcessFactoryStash(
        DirectoryStash(s3_url, storage_options=options),
        DeadlyCubes(n, {'7'}), chunk_size=1, backend=client)
    with pytest.raises(WorkerDiedError) as info:
        first.prime()
    assert '7' in info.value.keys
    built = DirectoryStash(s3_url, storage_options=options)
    kept = set(built.keys())
    assert '7' not in kept
    assert built.load_many(sorted(kept)) == {k: int(k) ** 3 for k in kept}

    calls = tmp_path / 'calls'
    calls.mkdir()
    factory = CubeFactory(n, calls)
    again = MultiProcessFactoryStash(
        DirectoryStash(s3_url, storage_options=options), factory,
        chunk_size=1, backend=client)
    assert len(again) == n
    assert factory.calls_made() == sorted(set(_cubes(n)) - kept)
    assert dict(built.items()) == _cubes(n)
