"""chunks, NotPickleable, MISSING and the error types."""

from __future__ import annotations

import pickle

import pytest

from hutch import (
    MISSING,
    APIError,
    CorruptDataError,
    NotPickleable,
    PersistableError,
    chunks,
)


def test_chunks_splits_lazily_in_order() -> None:
    consumed: list[int] = []

    def source() -> object:
        for i in range(7):
            consumed.append(i)
            yield i

    it = chunks(source(), 3)
    assert next(it) == [0, 1, 2]
    assert consumed == [0, 1, 2]
    assert list(it) == [[3, 4, 5], [6]]


def test_chunks_enum_numbers_items_within_each_chunk() -> None:
    assert list(chunks('abcde', 2, enum=True)) == \
        [[(0, 'a'), (1, 'b')], [(0, 'c'), (1, 'd')], [(0, 'e')]]


def test_chunks_of_a_collection_can_be_iterated_again() -> None:
    groups = chunks([1, 2, 3], 2)
    assert list(groups) == [[1, 2], [3]]
    assert list(groups) == [[1, 2], [3]]


def test_chunks_keeps_what_it_was_given() -> None:
    groups = chunks('ab', 5, enum=True)
    assert (groups.iterable, groups.size, groups.enum) == ('ab', 5, True)


@pytest.mark.parametrize('size', [0, -1])
def test_chunks_rejects_a_non_positive_size(size: int) -> None:
    with pytest.raises(ValueError, match='chunk size'):
        list(chunks([1], size))


def test_chunks_refuses_a_bad_size_before_any_iteration() -> None:
    with pytest.raises(ValueError, match='chunk size'):
        chunks([1], 0)


def test_chunks_rejects_a_non_int_size() -> None:
    with pytest.raises(TypeError, match='chunk size'):
        list(chunks([1], 1.5))  # type: ignore[arg-type]


def test_not_pickleable_refuses_with_a_clear_error() -> None:
    class Handle(NotPickleable):
        pass

    with pytest.raises(PersistableError, match='Handle'):
        pickle.dumps(Handle())


def test_missing_is_a_falsy_singleton_that_survives_pickling() -> None:
    assert not MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert repr(MISSING) == '<MISSING>'


def test_errors_keep_key_and_path_across_pickling() -> None:
    err = CorruptDataError('truncated', key='k', path='/x/k.dat')
    copy = pickle.loads(pickle.dumps(err))
    assert isinstance(copy, PersistableError)
    assert (copy.key, copy.path) == ('k', '/x/k.dat')
    assert str(copy) == "truncated (key 'k', path /x/k.dat)"


def test_every_error_of_hutch_is_an_api_error_as_in_the_original() -> None:
    assert issubclass(PersistableError, APIError)
    assert issubclass(CorruptDataError, APIError)
    assert not issubclass(APIError, PersistableError)
