"""What every back end of the MultiProcessStash family does.

A test module makes a subclass of :class:`BackendBehaviour` whose ``mode``
fixture says which back end to run on (see ``test_multi_stash.py`` and
``test_multi_dask.py``), so every back end passes the same tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    DictionaryStash,
    ItemFailure,
    MultiProcessFactoryStash,
    ProcessingError,
)

from .multi_stashes import CubeFactory, FileStash, PrivateFileStash, Squares


@dataclass
class Mode:
    """A back end to test: the stash arguments that select it."""

    kwargs: dict[str, Any]
    #: chunks run in the test process itself
    in_process: bool = False


class BackendBehaviour:
    """Each test gets ``mode``: the back end under test."""

    @pytest.fixture
    def mode(self) -> Mode:
        raise NotImplementedError

    def test_prime_stores_every_item(self, mode: Mode) -> None:
        delegate = DictionaryStash()
        Squares(delegate, 7, chunk_size=2, workers=2, **mode.kwargs).prime()
        assert dict(delegate.data) == {str(i): i * i for i in range(7)}

    def test_a_read_primes_first(self, mode: Mode) -> None:
        stash = Squares(DictionaryStash(), 5, workers=2, **mode.kwargs)
        assert stash['4'] == 16
        assert sorted(stash.keys()) == ['0', '1', '2', '3', '4']

    def test_workers_write_a_shareable_delegate_themselves(
            self, mode: Mode, tmp_path: Path) -> None:
        delegate = FileStash(tmp_path / 'data')
        Squares(delegate, 4, chunk_size=1, workers=2, **mode.kwargs).prime()
        writers = {delegate.writer_pid(k) for k in delegate.keys()}
        assert len(delegate.keys()) == 4
        if mode.in_process:
            assert writers == {os.getpid()}
        else:
            assert os.getpid() not in writers

    def test_the_parent_writes_a_delegate_that_is_not_shareable(
            self, mode: Mode, tmp_path: Path) -> None:
        delegate = PrivateFileStash(tmp_path / 'data')
        Squares(delegate, 4, chunk_size=1, workers=2, **mode.kwargs).prime()
        assert {delegate.writer_pid(k) for k in delegate.keys()} \
            == {os.getpid()}
        assert delegate.load('3') == 9

    def test_a_failing_item_is_named_and_the_rest_is_stored(
            self, mode: Mode) -> None:
        delegate = DictionaryStash()
        stash = Squares(delegate, 8, bad={5}, chunk_size=2, workers=2,
                        **mode.kwargs)
        with pytest.raises(ProcessingError) as info:
            stash.prime()
        assert info.value.keys == ['5']
        assert 'ValueError: bad item 5' in info.value.failures[0].traceback
        assert sorted(delegate.keys()) == ['0', '1', '2', '3', '4', '6', '7']

    def test_stored_failures_are_redone_on_request(
            self, mode: Mode, tmp_path: Path) -> None:
        delegate = FileStash(tmp_path / 'data')
        calls = tmp_path / 'calls'
        calls.mkdir()
        factory = CubeFactory(5, calls, bad={'3'})
        stash = MultiProcessFactoryStash(delegate, factory, chunk_size=2,
                                         workers=2, store_failures=True,
                                         **mode.kwargs)
        stash.prime()
        record = delegate.load('3')
        assert isinstance(record, ItemFailure)
        assert 'cannot make 3' in record.traceback
        assert stash.failed_keys() == ['3']
        factory.bad = frozenset()
        before = factory.calls_made()
        assert stash.redo_failed() == 1
        assert stash['3'] == 27 and stash.failed_keys() == []
        redone = list(factory.calls_made())
        for key in before:
            redone.remove(key)
        assert redone == ['3']

    def test_a_factory_run_makes_only_the_missing_keys(
            self, mode: Mode, tmp_path: Path) -> None:
        delegate = FileStash(tmp_path / 'data')
        delegate.dump('1', 'kept')
        delegate.dump('4', 'kept')
        calls = tmp_path / 'calls'
        calls.mkdir()
        factory = CubeFactory(6, calls)
        stash = MultiProcessFactoryStash(delegate, factory, workers=2,
                                         **mode.kwargs)
        assert len(stash) == 6
        assert factory.calls_made() == ['0', '2', '3', '5']
        assert stash['1'] == 'kept' and stash['5'] == 125

    def test_an_item_that_calls_sys_exit_is_named_and_the_rest_is_stored(
            self, mode: Mode) -> None:
        delegate = DictionaryStash()
        stash = Squares(delegate, 12, quitting={5}, chunk_size=3, workers=2,
                        **mode.kwargs)
        with pytest.raises(ProcessingError) as info:
            stash.prime()
        assert info.value.keys == ['5']
        assert 'SystemExit' in info.value.failures[0].error
        assert sorted(delegate.keys(), key=int) == \
            [str(i) for i in range(12) if i != 5]

    def test_an_item_that_calls_sys_exit_loses_no_item_workers_store(
            self, mode: Mode, tmp_path: Path) -> None:
        delegate = FileStash(tmp_path / 'data')
        stash = Squares(delegate, 12, quitting={5}, chunk_size=3, workers=2,
                        **mode.kwargs)
        with pytest.raises(ProcessingError) as info:
            stash.prime()
        assert info.value.keys == ['5']
        assert sorted(delegate.keys(), key=int) == \
            [str(i) for i in range(12) if i != 5]
