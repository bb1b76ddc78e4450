"""Values a stash cannot store: a clear error, and nothing written.

A value the serializer cannot turn into bytes -- a lambda or a lock under
pickle, a set under JSON -- raises :class:`~hutch.SerializeError` (a
:class:`~hutch.PersistableError` and a ``TypeError``) that names the key, the
file or database, and the serializer, from every durable stash and from
persisted work.  The stash's folder is left exactly as it was: no new
file, no temporary, no half-stored item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hutch import (
    CloseableStash,
    PersistableError,
    PersistedWork,
    SerializeError,
    Stash,
)

from .stashes import DURABLE, Kind, files_under

_UNSTORABLE: dict[str, Callable[[], Any]] = {
    'lambda': lambda: {'fn': lambda x: x},
    'lock': lambda: [1, threading.Lock()],
    'set': lambda: {'tags': {'a', 'b'}},  # fine for pickle, not for JSON
}


def _composite(home: Path) -> Stash:
    from hutch.stash.composite import DirectoryCompositeStash
    return DirectoryCompositeStash(home / 'data', [{'a'}, {'b'}], 'feats')


def _increment(home: Path) -> Stash:
    from hutch.stash.directory import IncrementKeyDirectoryStash
    return IncrementKeyDirectoryStash(home / 'data')


def _shelve_held_open(home: Path) -> Stash:
    from hutch.stash.shelve import ShelveStash
    return ShelveStash(home / 'data' / 'shelf', auto_close=False)


KINDS = [*DURABLE, Kind('IncrementKeyDirectoryStash', _increment),
         Kind('ShelveStash-held-open', _shelve_held_open)]


def _json(kind: Kind) -> bool:
    return 'json' in kind.name


# every value is refused by JSON; the set is stored fine by pickle
_CASES = [(kind, value) for kind in KINDS for value in sorted(_UNSTORABLE)
          if _json(kind) or value != 'set']


def _close(stash: Stash) -> None:
    if isinstance(stash, CloseableStash):
        stash.close()


def _check(err: SerializeError, key: str, serializer: str) -> None:
    assert isinstance(err, PersistableError)
    assert isinstance(err, TypeError)
    assert err.key == key
    assert err.path is not None
    assert f'key {key!r}' in str(err) and str(err.path) in str(err)
    assert serializer in str(err)


@pytest.mark.parametrize('kind, value', _CASES,
                         ids=[f'{k}-{v}' for k, v in _CASES])
def test_a_value_that_cannot_be_serialized_is_refused_naming_key_and_path(
        kind: Kind, value: str, tmp_path: Path) -> None:
    item = _UNSTORABLE[value]()
    stash = kind.make(tmp_path)
    stash.dump('kept', [1, 2])
    _close(stash)  # the files as they rest
    before = files_under(tmp_path)
    with pytest.raises(SerializeError) as info:
        stash.dump('a', item)
    _check(info.value, 'a', 'json' if _json(kind) else 'pickle')
    assert 'a' not in stash
    assert stash.load('kept') == [1, 2]
    _close(stash)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize('kind', KINDS, ids=str)
def test_a_refused_first_value_leaves_no_file_at_all(
        kind: Kind, tmp_path: Path) -> None:
    stash = kind.make(tmp_path)
    with pytest.raises(SerializeError):
        stash.dump('a', {'fn': lambda x: x})
    _close(stash)
    assert files_under(tmp_path) == []


def test_an_increment_key_dump_of_an_unstorable_value_takes_no_key(
        tmp_path: Path) -> None:
    stash = _increment(tmp_path)
    with pytest.raises(SerializeError) as info:
        stash.dump({'fn': lambda x: x})  # type: ignore[call-arg]
    assert info.value.key == '1'
    stash.dump('first')  # type: ignore[call-arg]
    assert list(stash.keys()) == ['1']


@pytest.mark.parametrize('where', ['item', 'group'])
def test_a_composite_item_that_cannot_be_serialized_stores_no_part(
        where: str, tmp_path: Path) -> None:
    stash = _composite(tmp_path)
    stash.dump('kept', SimpleNamespace(feats={'a': 1, 'b': 2}))
    before = files_under(tmp_path)
    if where == 'item':
        item = SimpleNamespace(feats={'a': 1, 'b': 2}, fn=lambda x: x)
    else:
        item = SimpleNamespace(feats={'a': 1, 'b': lambda x: x})
    with pytest.raises(SerializeError) as info:
        stash.dump('a', item)
    _check(info.value, 'a', 'pickle')
    assert files_under(tmp_path) == before
    assert list(stash.keys()) == ['kept']


def test_sqlite_dump_many_names_the_key_that_cannot_be_serialized(
        tmp_path: Path) -> None:
    from hutch.stash.sqlite import SqliteStash

    stash = SqliteStash(tmp_path / 'data.sqlite3')
    with pytest.raises(SerializeError) as info:
        stash.dump_many([('b', 1), ('c', {'fn': lambda x: x}), ('d', 2)])
    _check(info.value, 'c', 'pickle')
    assert len(stash) == 0
    stash.close()


class _Owner:
    pass


def test_persisted_work_that_cannot_be_pickled_names_its_file(
        tmp_path: Path) -> None:
    path = tmp_path / 'work.dat'
    work = PersistedWork(path, _Owner())
    work.worker = lambda: {'fn': lambda x: x}
    with pytest.raises(SerializeError) as info:
        work()
    err = info.value
    assert isinstance(err, PersistableError) and isinstance(err, TypeError)
    assert err.path == path and str(path) in str(err)
    assert 'pickle' in str(err)
    assert files_under(tmp_path) == []
