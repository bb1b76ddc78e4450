"""The stash contract as a test kit: check your own stash with pytest.

Every stash of hutch runs these classes, and so can a stash you write.
Make one test class per stash that inherits :class:`WriteContract` (a
writable stash), :class:`ReadContract` (one you can only read) or
:class:`BaseReadContract` (one that cannot hold ``None``, like a zip's
entries), and say how to build it:

.. code-block:: python

    from hutch import DictionaryStash
    from hutch.testing import WriteContract

    class TestMyStash(WriteContract):
        def new_empty(self, tmp_path):
            return DictionaryStash()

pytest then runs some thirty checks of the contract on it: ``load`` of a
missing key is ``None`` while ``stash[key]`` raises ``KeyError(key)``, a
stored ``None`` is a value, ``iter`` yields pairs, ``len`` and ``keys``
agree, ``delete`` of a missing key is no error, ``clear`` leaves a usable
stash, and so on.

A read-only stash overrides :meth:`BaseReadContract.new_stash` to build a
stash already holding the given items; ``sample`` can be overridden by
stashes that hold only some kinds of values (text, bytes).

A durable stash should also inherit :class:`StorageContract` and say how to
write and read its storage *without* the stash (plain files, rows, ...): the
read checks then run on data the stash did not write, and every write is
checked by reading the storage directly, so a mistake shared by ``dump`` and
``load`` cannot hide.

The kit needs ``pytest`` (``pip install 'hutch[testing]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .stash.base import Stash
from .util import MISSING

__all__ = ['SAMPLE', 'BaseReadContract', 'ReadContract', 'WriteContract',
           'StorageContract']

SAMPLE: dict[str, Any] = {
    'alpha': 1,
    'beta': [1, 2, 3],
    'gamma': {'nested': 'dict'},
    'nothing': None,
    'text': 'héllo wörld',
}


class BaseReadContract:
    """What every stash does when read, whatever values it can hold.

    Only stashes that cannot hold ``None`` at all (a zip's entries are
    bytes) run this alone; every other stash runs :class:`ReadContract`.
    """

    sample: dict[str, Any] = SAMPLE
    missing_key = 'no-such-key'

    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        """A stash holding exactly ``items``."""
        raise NotImplementedError

    @pytest.fixture
    def stash(self, tmp_path: Path) -> Stash:
        return self.new_stash(tmp_path, dict(self.sample))

    def test_load_returns_each_stored_value(self, stash: Stash) -> None:
        for key, value in self.sample.items():
            assert stash.load(key) == value, key

    def test_load_of_a_missing_key_returns_none(self, stash: Stash) -> None:
        assert stash.load(self.missing_key) is None

    def test_lookup_gives_each_value_or_missing(self, stash: Stash) -> None:
        for key, value in self.sample.items():
            assert stash.lookup(key) == value, key
        assert stash.lookup(self.missing_key) is MISSING

    def test_getitem_returns_the_value(self, stash: Stash) -> None:
        for key, value in self.sample.items():
            assert stash[key] == value, key

    def test_getitem_of_a_missing_key_raises_keyerror_naming_it(
            self, stash: Stash) -> None:
        with pytest.raises(KeyError) as info:
            stash[self.missing_key]
        assert info.value.args == (self.missing_key,)

    def test_get_returns_value_or_default(self, stash: Stash) -> None:
        key, value = next(
            (k, v) for k, v in self.sample.items() if v is not None)
        assert stash.get(key) == value
        sentinel = object()
        assert stash.get(self.missing_key, sentinel) is sentinel

    def test_exists_and_in_tell_stored_keys(self, stash: Stash) -> None:
        for key in self.sample:
            assert stash.exists(key), key
            assert key in stash, key
        assert not stash.exists(self.missing_key)
        assert self.missing_key not in stash

    def test_keys_are_the_stored_keys(self, stash: Stash) -> None:
        keys = list(stash.keys())
        assert sorted(keys) == sorted(self.sample)
        assert len(keys) == len(set(keys))

    def test_len_counts_keys(self, stash: Stash) -> None:
        assert len(stash) == len(self.sample)

    def test_iter_yields_key_value_pairs(self, stash: Stash) -> None:
        assert sorted(iter(stash), key=lambda kv: kv[0]) == \
            sorted(self.sample.items(), key=lambda kv: kv[0])

    def test_values_and_items_follow_keys(self, stash: Stash) -> None:
        keys = list(stash.keys())
        assert list(stash.values()) == [self.sample[k] for k in keys]
        assert list(stash.items()) == [(k, self.sample[k]) for k in keys]

    def test_key_groups_cover_keys_in_bounded_lists(
            self, stash: Stash) -> None:
        groups = list(stash.key_groups(2))
        assert all(1 <= len(g) <= 2 for g in groups)
        assert [k for g in groups for k in g] == list(stash.keys())

    def test_key_groups_rejects_a_non_positive_size(
            self, stash: Stash) -> None:
        with pytest.raises(ValueError):
            list(stash.key_groups(0))

    def test_empty_stash_has_no_keys(self, tmp_path: Path) -> None:
        empty = self.new_stash(tmp_path, {})
        assert list(empty.keys()) == []
        assert len(empty) == 0
        assert list(empty) == []


class ReadContract(BaseReadContract):
    """What every stash that can hold a ``None`` does when read."""

    @pytest.fixture
    def none_key(self) -> str:
        keys = [k for k, v in self.sample.items() if v is None]
        if not keys:
            pytest.fail('the sample must hold a None value')
        return keys[0]

    def test_getitem_returns_a_stored_none(
            self, stash: Stash, none_key: str) -> None:
        assert stash[none_key] is None

    def test_get_of_a_stored_none_is_none_not_default(
            self, stash: Stash, none_key: str) -> None:
        assert stash.get(none_key, 'default') is None

    def test_lookup_of_a_stored_none_is_none_not_missing(
            self, stash: Stash, none_key: str) -> None:
        assert stash.lookup(none_key) is None

    def test_says_what_it_can_do(self, stash: Stash) -> None:
        for capability in ('writable', 'shareable', 'multihost'):
            assert isinstance(getattr(stash, capability), bool), capability


class WriteContract(ReadContract):
    """What every writable stash does, on top of :class:`ReadContract`."""

    def new_empty(self, tmp_path: Path) -> Stash:
        """A new, empty stash."""
        raise NotImplementedError

    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        stash = self.new_empty(tmp_path)
        for key, value in items.items():
            stash.dump(key, value)
        return stash

    @pytest.fixture
    def empty(self, tmp_path: Path) -> Stash:
        return self.new_empty(tmp_path)

    def _value(self, i: int = 0) -> Any:
        values = [v for v in self.sample.values() if v is not None]
        return values[i % len(values)]

    def test_dump_then_load_round_trips(self, empty: Stash) -> None:
        empty.dump('k', self._value())
        assert empty.load('k') == self._value()

    def test_setitem_stores(self, empty: Stash) -> None:
        empty['k'] = self._value()
        assert empty['k'] == self._value()

    def test_dump_overwrites(self, empty: Stash) -> None:
        empty.dump('k', self._value(0))
        empty.dump('k', self._value(1))
        assert empty.load('k') == self._value(1)
        assert list(empty.keys()) == ['k']

    def test_dumped_none_is_present(self, empty: Stash) -> None:
        empty.dump('k', None)
        assert empty.exists('k')
        assert empty['k'] is None
        assert list(empty.keys()) == ['k']

    def test_delete_removes_only_that_key(self, empty: Stash) -> None:
        empty.dump('a', self._value(0))
        empty.dump('b', self._value(1))
        empty.delete('a')
        assert not empty.exists('a')
        assert empty.load('a') is None
        assert list(empty.keys()) == ['b']
        assert empty.load('b') == self._value(1)

    def test_delete_of_a_missing_key_is_a_noop(self, empty: Stash) -> None:
        empty.dump('a', self._value())
        empty.delete(self.missing_key)
        assert list(empty.keys()) == ['a']

    def test_delitem_removes(self, empty: Stash) -> None:
        empty['a'] = self._value()
        del empty['a']
        assert 'a' not in empty

    def test_clear_removes_everything(self, stash: Stash) -> None:
        stash.clear()
        assert list(stash.keys()) == []
        assert len(stash) == 0
        for key in self.sample:
            assert not stash.exists(key)

    def test_stash_is_usable_after_clear(self, stash: Stash) -> None:
        stash.clear()
        stash.dump('again', self._value())
        assert stash.load('again') == self._value()

    def test_len_follows_writes(self, empty: Stash) -> None:
        for i in range(5):
            empty.dump(f'k{i}', self._value(i))
        empty.delete('k0')
        assert len(empty) == 4


class StorageContract(WriteContract):
    """A writable stash checked against its storage, read and written
    without the stash.

    Subclasses implement :meth:`write_directly` and :meth:`read_directly`
    on top of :meth:`~WriteContract.new_empty`.
    """

    def write_directly(self, stash: Stash, key: str, value: Any) -> None:
        """Put ``value`` under ``key`` in ``stash``'s storage by hand."""
        raise NotImplementedError

    def read_directly(self, stash: Stash) -> dict[str, Any]:
        """Every key and value in ``stash``'s storage, read by hand."""
        raise NotImplementedError

    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        stash = self.new_empty(tmp_path)
        for key, value in items.items():
            self.write_directly(stash, key, value)
        return stash

    def test_dumps_reach_the_storage(self, empty: Stash) -> None:
        for key, value in self.sample.items():
            empty.dump(key, value)
        assert self.read_directly(empty) == self.sample

    def test_a_stored_none_reaches_the_storage(self, empty: Stash) -> None:
        empty.dump('k', None)
        assert self.read_directly(empty) == {'k': None}

    def test_delete_removes_from_the_storage(self, stash: Stash) -> None:
        gone = next(iter(self.sample))
        stash.delete(gone)
        expected = {k: v for k, v in self.sample.items() if k != gone}
        assert self.read_directly(stash) == expected

    def test_clear_empties_the_storage(self, stash: Stash) -> None:
        stash.clear()
        assert self.read_directly(stash) == {}
