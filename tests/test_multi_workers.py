"""The sizing rules (how many workers, how many items per chunk), the job a
worker runs, and what hutch relies on in the standard pools."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from hutch import DictionaryStash, ItemFailure
from hutch.multi import cpu_count, resolve_chunk_size, resolve_workers
from hutch.multi.backends import pool_size, stop_pool
from hutch.multi.jobs import Job

from .multi_stashes import FileStash, Squares


def test_a_positive_count_is_taken_as_is() -> None:
    assert resolve_workers(3, cores=2) == 3


def test_zero_workers_means_every_core() -> None:
    assert resolve_workers(0, cores=6) == 6


def test_a_negative_count_leaves_that_many_cores_free() -> None:
    assert resolve_workers(-2, cores=6) == 4


def test_a_negative_count_never_goes_below_one_worker() -> None:
    assert resolve_workers(-8, cores=6) == 1


def test_a_fraction_takes_that_share_of_the_cores() -> None:
    assert resolve_workers(0.5, cores=6) == 3
    assert resolve_workers(1.0, cores=6) == 6


def test_a_small_fraction_still_gives_one_worker() -> None:
    assert resolve_workers(0.1, cores=2) == 1


@pytest.mark.parametrize('bad', [0.0, -0.5, 1.01, 2.0])
def test_a_float_outside_zero_to_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match='fraction'):
        resolve_workers(bad, cores=4)


@pytest.mark.parametrize('bad', ['2', None, True])
def test_a_workers_value_of_another_type_is_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        resolve_workers(bad, cores=4)  # type: ignore[arg-type]


def test_the_core_count_is_what_this_process_may_use() -> None:
    allowed = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else os.cpu_count()
    assert cpu_count() == allowed
    assert resolve_workers(0) == allowed


def test_chunk_size_zero_splits_items_evenly_over_the_workers() -> None:
    assert resolve_chunk_size(0, items=10, workers=3) == 4
    assert resolve_chunk_size(0, items=9, workers=3) == 3


def test_chunk_size_zero_with_fewer_items_than_workers_is_one() -> None:
    assert resolve_chunk_size(0, items=2, workers=8) == 1


def test_a_positive_chunk_size_is_taken_as_is() -> None:
    assert resolve_chunk_size(5, items=100, workers=2) == 5


def test_a_negative_chunk_size_is_refused() -> None:
    with pytest.raises(ValueError):
        resolve_chunk_size(-1, items=10, workers=2)


# -- the job (what a worker does with one chunk) -----------------------------

def _job(stash: Squares, store: bool) -> Job:
    return Job(stash._process, stash._item_key,
               stash.delegate if store else None)


def test_a_worker_storing_directly_sends_back_a_count_not_values(
        tmp_path: Path) -> None:
    delegate = FileStash(tmp_path / 'data')
    result = _job(Squares(delegate, 3), store=True).run(0, [0, 1, 2])
    assert (result.stored, result.pairs, result.failures) == (3, [], [])
    assert delegate.load('2') == 4


def test_a_streaming_worker_sends_back_the_pairs() -> None:
    delegate = DictionaryStash()
    result = _job(Squares(delegate, 3), store=False).run(4, [1, 2])
    assert (result.index, result.pairs) == (4, [('1', 1), ('2', 4)])
    assert len(delegate) == 0


def test_a_failing_item_is_isolated_from_the_rest_of_its_chunk() -> None:
    stash = Squares(DictionaryStash(), 4, bad={1})
    result = _job(stash, store=False).run(0, [0, 1, 2, 3])
    assert result.pairs == [('0', 0), ('2', 4), ('3', 9)]
    assert [f.key for f in result.failures] == ['1']
    assert result.failures[0].error == 'ValueError: bad item 1'


def test_a_worker_keeps_failure_records_in_the_store_when_asked(
        tmp_path: Path) -> None:
    delegate = FileStash(tmp_path / 'data')
    stash = Squares(delegate, 3, bad={1})
    job = Job(stash._process, stash._item_key, delegate, keep_failures=True)
    job.run(0, [0, 1, 2])
    record = delegate.load('1')
    assert isinstance(record, ItemFailure) and 'bad item 1' in record.error


def test_an_item_calling_sys_exit_fails_alone() -> None:
    stash = Squares(DictionaryStash(), 3, quitting={1})
    result = _job(stash, store=False).run(0, [0, 1, 2])
    assert result.pairs == [('0', 0), ('2', 4)]
    assert [f.error for f in result.failures] == ['SystemExit: 4']


def test_a_keyboard_interrupt_in_a_worker_thread_fails_alone() -> None:
    stash = Squares(DictionaryStash(), 3, quitting={1}, interrupt=True)
    with cf.ThreadPoolExecutor(1) as pool:
        result = pool.submit(_job(stash, store=False).run, 0,
                             [0, 1, 2]).result()
    assert [f.key for f in result.failures] == ['1']
    assert result.failures[0].error.startswith('KeyboardInterrupt')


def test_a_keyboard_interrupt_in_the_main_thread_stops_the_job() -> None:
    stash = Squares(DictionaryStash(), 3, quitting={1}, interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        _job(stash, store=False).run(0, [0, 1, 2])


# -- what hutch reads of the standard pools ----------------------------------

@pytest.mark.parametrize('kind', ['thread', 'process'])
def test_the_size_of_a_standard_pool_can_be_read(kind: str) -> None:
    pool: cf.Executor = cf.ThreadPoolExecutor(3) if kind == 'thread' else \
        cf.ProcessPoolExecutor(3, mp_context=mp.get_context('spawn'))
    with pool:
        assert pool_size(pool) == 3


def test_stopping_a_process_pool_ends_a_chunk_that_would_hang() -> None:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context('fork')) as pool:
        hung = pool.submit(time.sleep, 600)
        stop_pool(pool)
        with pytest.raises(cf.BrokenExecutor):
            hung.result(timeout=60)
