"""DirectoryCompositeStash: a dict attribute split over per-group folders."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    CorruptDataError,
    DirectoryCompositeStash,
    MissingDataKeysError,
    PersistableError,
    Stash,
)
from hutch.testing import WriteContract

GROUPS = [{'a', 'b'}, {'c'}, {'d'}]


@dataclass
class Item:
    label: str
    feats: dict[str, Any] = field(default_factory=dict)


def _item(label: str, n: int = 1) -> Item:
    return Item(label, {'a': n, 'b': [n] * 3, 'c': f'c{n}', 'd': None})


class TestDirectoryCompositeStash(WriteContract):
    sample = {'alpha': _item('alpha', 1), 'beta': _item('beta', 2),
              'nothing': None, 'text': _item('héllo', 3)}

    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryCompositeStash(tmp_path / 'stash', GROUPS, 'feats')


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / 'stash'


@pytest.fixture
def stash(folder: Path) -> DirectoryCompositeStash:
    return DirectoryCompositeStash(folder, GROUPS, 'feats')


def test_each_group_is_stored_in_its_own_folder(
        stash: DirectoryCompositeStash, folder: Path) -> None:
    stash.dump('k', _item('x'))
    assert sorted(os.listdir(folder)) == ['comp', 'inst']
    assert sorted(os.listdir(folder / 'comp')) == ['a-b', 'c', 'd']
    with open(folder / 'comp' / 'a-b' / 'k.dat', 'rb') as f:
        assert pickle.load(f) == {'a': 1, 'b': [1, 1, 1]}
    with open(folder / 'inst' / 'k.dat', 'rb') as f:
        inst, context = pickle.load(f)
    assert inst == Item('x', None) and context is None  # type: ignore[arg-type]


def test_dump_leaves_the_item_as_it_was(stash: DirectoryCompositeStash) -> None:
    item = _item('x')
    stash.dump('k', item)
    assert item == _item('x')


def test_load_keys_restore_only_those_keys(folder: Path) -> None:
    stash = DirectoryCompositeStash(folder, GROUPS, 'feats', load_keys={'b'})
    stash.dump('k', _item('x'))
    assert stash.load('k') == Item('x', {'b': [1, 1, 1]})


def test_only_the_groups_load_keys_need_are_read(
        stash: DirectoryCompositeStash, folder: Path) -> None:
    stash.dump('k', _item('x'))
    (folder / 'comp' / 'c' / 'k.dat').write_bytes(b'corrupt')
    (folder / 'comp' / 'd' / 'k.dat').unlink()
    stash.load_keys = {'a', 'b'}
    assert stash.load('k') == Item('x', {'a': 1, 'b': [1, 1, 1]})
    stash.load_keys = None
    with pytest.raises(PersistableError):
        stash.load('k')


def test_missing_group_keys_raise_naming_them_and_store_nothing(
        stash: DirectoryCompositeStash, folder: Path) -> None:
    with pytest.raises(MissingDataKeysError) as info:
        stash.dump('k', Item('x', {'a': 1}))
    assert info.value.keys == {'b', 'c', 'd'}
    assert "['b', 'c', 'd']" in str(info.value) and "'k'" in str(info.value)
    assert isinstance(info.value, PersistableError)
    assert list(stash.keys()) == [] and not folder.exists()


def test_missing_data_keys_error_pickles_with_its_keys() -> None:
    error = MissingDataKeysError('lacks', key='k', keys={'x'})
    copy = pickle.loads(pickle.dumps(error))
    assert copy.keys == {'x'} and copy.key == 'k'


def test_missing_data_keys_error_takes_the_keys_alone_as_the_original(
        ) -> None:
    error = MissingDataKeysError({'b', 'c'})
    assert error.keys == {'b', 'c'}
    assert str(error).startswith('Missing data keys: ')
    assert "'b'" in str(error) and "'c'" in str(error)


def test_keys_in_no_group_raise_naming_them(
        stash: DirectoryCompositeStash) -> None:
    feats = {**_item('x').feats, 'zz': 0}
    with pytest.raises(ValueError, match="'zz'"):
        stash.dump('k', Item('x', feats))


def test_an_attribute_that_is_not_a_dict_raises(
        stash: DirectoryCompositeStash) -> None:
    with pytest.raises(TypeError, match="'feats'"):
        stash.dump('k', Item('x', ['a']))  # type: ignore[arg-type]


def test_a_lost_group_file_raises_naming_key_and_path(
        stash: DirectoryCompositeStash, folder: Path) -> None:
    stash.dump('k', _item('x'))
    lost = folder / 'comp' / 'c' / 'k.dat'
    lost.unlink()
    with pytest.raises(CorruptDataError) as info:
        stash.load('k')
    assert info.value.key == 'k' and Path(info.value.path) == lost  # type: ignore[arg-type]


def test_ordered_dict_order_is_kept(stash: DirectoryCompositeStash) -> None:
    feats = OrderedDict([('d', 4), ('c', 3), ('b', 2), ('a', 1)])
    stash.dump('k', Item('x', feats))  # type: ignore[arg-type]
    loaded = stash.load('k').feats
    assert isinstance(loaded, OrderedDict)
    assert list(loaded) == ['d', 'c', 'b', 'a']


def test_delete_removes_the_item_and_its_groups(
        stash: DirectoryCompositeStash, folder: Path) -> None:
    stash.dump('k', _item('x'))
    stash.dump('j', _item('y'))
    stash.delete('k')
    assert list(stash.keys()) == ['j']
    for group in ('a-b', 'c', 'd'):
        assert os.listdir(folder / 'comp' / group) == ['j.dat']


def test_clear_leaves_an_empty_top_folder(
        stash: DirectoryCompositeStash, folder: Path) -> None:
    stash.dump('k', _item('x'))
    stash.clear()
    assert os.listdir(folder) == []


def test_group_folders_of_unsafe_key_names_stay_inside(folder: Path) -> None:
    stash = DirectoryCompositeStash(folder, [{'../up'}, {'x'}], 'feats')
    stash.dump('k', Item('x', {'../up': 1, 'x': 2}))
    assert stash.group_path({'../up'}).parent == folder / 'comp'
    assert stash.load('k') == Item('x', {'../up': 1, 'x': 2})


@pytest.mark.parametrize('groups,error', [
    ([], ValueError), ([set()], ValueError), ('ab', TypeError),
    ([{'a'}, {'a', 'b'}], ValueError), (['ab'], TypeError),
    ([{1}], TypeError), (None, TypeError),
])
def test_bad_groups_raise_at_construction(
        folder: Path, groups: Any, error: type) -> None:
    with pytest.raises(error):
        DirectoryCompositeStash(folder, groups, 'feats')


def test_keys_in_two_groups_are_named(folder: Path) -> None:
    with pytest.raises(ValueError, match=r"\['a'\]"):
        DirectoryCompositeStash(folder, [{'a'}, {'a', 'b'}], 'feats')


def test_unknown_load_keys_are_named(folder: Path) -> None:
    with pytest.raises(ValueError, match=r"\['q'\]"):
        DirectoryCompositeStash(folder, GROUPS, 'feats', load_keys={'a', 'q'})


def test_a_file_where_the_top_folder_should_be_is_refused(
        tmp_path: Path) -> None:
    notes = tmp_path / 'notes.txt'
    notes.write_text('mine')
    with pytest.raises(ValueError, match=f'not a folder: {notes}'):
        DirectoryCompositeStash(notes, [{'a'}], 'feats')


def test_bad_attribute_name_raises(folder: Path) -> None:
    with pytest.raises(TypeError):
        DirectoryCompositeStash(folder, GROUPS, '')


def test_options_reach_the_group_stashes(folder: Path) -> None:
    stash = DirectoryCompositeStash(folder, GROUPS, 'feats',
                                    pattern='{name}.pkl', serializer='pickle+zlib')
    stash.dump('k', _item('x'))
    assert os.listdir(folder / 'comp' / 'c') == ['k.pkl']
    assert stash.load('k') == _item('x')


def test_a_composite_stash_pickles(stash: DirectoryCompositeStash) -> None:
    stash.dump('k', _item('x'))
    copy = pickle.loads(pickle.dumps(stash))
    assert copy.load('k') == _item('x')
