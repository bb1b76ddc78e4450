"""MultiProcessStash on a real Dask cluster of worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster

from hutch import (
    DictionaryStash,
    DirectoryStash,
    MultiProcessFactoryStash,
    SqliteStash,
    Stash,
    WorkerDiedError,
)

from .multi_behaviour import BackendBehaviour, Mode
from .multi_stashes import (
    ChunkLengths,
    CubeFactory,
    Squares,
    Tracked,
    unpickled_alive,
)
from .reliability.procs import wait_for


@pytest.fixture(scope='module')
def cluster() -> Iterator[LocalCluster]:
    # a task whose worker dies is not retried, so a deadly item fails fast
    with dask.config.set({'distributed.scheduler.allowed-failures': 0}), \
            LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                         dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope='module')
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster) as client:
        yield client


class TestDaskClient(BackendBehaviour):
    @pytest.fixture
    def mode(self, client: Client) -> Mode:
        return Mode({'backend': client})


def test_a_scheduler_address_connects_for_the_run(
        cluster: LocalCluster) -> None:
    delegate = DictionaryStash()
    Squares(delegate, 5, chunk_size=2, backend=cluster.scheduler_address
            ).prime()
    assert dict(delegate.data) == {str(i): i * i for i in range(5)}


def test_a_scheduler_address_splits_over_the_cluster_threads(
        cluster: LocalCluster) -> None:
    delegate = DictionaryStash()
    ChunkLengths(delegate, 6, backend=cluster.scheduler_address).prime()
    assert sorted(delegate.data.values()) == [3] * 6


def test_chunk_size_zero_splits_over_the_cluster_threads(
        client: Client) -> None:
    delegate = DictionaryStash()
    ChunkLengths(delegate, 6, backend=client).prime()
    assert sorted(delegate.data.values()) == [3] * 6


@pytest.mark.parametrize('kind', ['directory', 'sqlite'])
def test_dask_workers_build_a_durable_stash(
        client: Client, tmp_path: Path, kind: str) -> None:
    def durable() -> Stash:
        if kind == 'directory':
            return DirectoryStash(tmp_path / 'data')
        return SqliteStash(tmp_path / 'data.sqlite')

    stash = MultiProcessFactoryStash(durable(), CubeFactory(9), chunk_size=2,
                                     backend=client)
    assert len(stash) == 9
    assert dict(durable().items()) == {str(i): i ** 3 for i in range(9)}


def test_dask_workers_keep_no_stash_once_the_run_is_over(
        client: Client) -> None:
    delegate = DictionaryStash()
    Tracked(delegate, 6, chunk_size=1, backend=client).prime()
    assert len(delegate) == 6
    wait_for(lambda: sum(client.run(unpickled_alive).values()) == 0,
             'the workers to drop the stash of a finished run', timeout=30)


def test_a_silent_cluster_ends_the_run_after_the_timeout(
        client: Client) -> None:
    stash = Squares(DictionaryStash(), 2, slow={0}, slow_seconds=3.0,
                    chunk_size=1, backend=client, timeout=0.5)
    with pytest.raises(WorkerDiedError, match='timeout') as info:
        stash.prime()
    assert '0' in info.value.keys


# last in the module: the nanny restarts the dead worker in the background
def test_a_dask_worker_that_dies_is_an_error(client: Client) -> None:
    kwargs: dict[str, Any] = {'backend': client, 'chunk_size': 1}
    delegate = DictionaryStash()
    with pytest.raises(WorkerDiedError) as info:
        Squares(delegate, 3, deadly={1}, **kwargs).prime()
    assert '1' in info.value.keys
    assert '1' not in delegate.keys()
