"""The sizing rules (how many workers, how many items per chunk) and the
chunk runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hutch import DictionaryStash
from hutch.multi import cpu_count, resolve_chunk_size, resolve_workers
from hutch.multi.workers import run_chunk

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


# -- the chunk runner (what a worker does with one chunk) ---------------------

def test_a_worker_storing_directly_sends_back_a_count_not_values(
        tmp_path: Path) -> None:
    delegate = FileStash(tmp_path / 'data')
    result = run_chunk(Squares(delegate, 3), 0, [0, 1, 2], direct=True)
    assert (result.stored, result.pairs, result.failures) == (3, [], [])
    assert delegate.load('2') == 4


def test_a_streaming_worker_sends_back_the_pairs() -> None:
    delegate = DictionaryStash()
    result = run_chunk(Squares(delegate, 3), 4, [1, 2], direct=False)
    assert (result.index, result.pairs) == (4, [('1', 1), ('2', 4)])
    assert len(delegate) == 0


def test_a_failing_item_is_isolated_from_the_rest_of_its_chunk() -> None:
    stash = Squares(DictionaryStash(), 4, bad={1})
    result = run_chunk(stash, 0, [0, 1, 2, 3], direct=False)
    assert result.pairs == [('0', 0), ('2', 4), ('3', 9)]
    assert [f.key for f in result.failures] == ['1']
    assert result.failures[0].error == 'ValueError: bad item 1'
