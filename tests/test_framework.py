"""Semantics of the framework stashes beyond the shared contract."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    CacheFactoryStash,
    CacheStash,
    CloseableStash,
    DelegateDefaults,
    DelegateStash,
    DictionaryStash,
    DirectoryStash,
    FactoryStash,
    KeyLimitStash,
    KeySubsetStash,
    LRUCacheStash,
    NoopStash,
    OneShotFactoryStash,
    PersistableError,
    PreemptiveStash,
    Primeable,
    PrimeableStash,
    ProtectiveStash,
    ReadOnlyStash,
    SortedStash,
    UnionStash,
)


class CountingFactory(ReadOnlyStash):
    """A read-only factory that counts how often it creates each key."""

    def __init__(self, keys: list[str], result: Any = 'made') -> None:
        self._keys = keys
        self.result = result
        self.calls: dict[str, int] = {}

    def load(self, name: str) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        return f'{self.result}:{name}' if self.result is not None else None

    def keys(self) -> list[str]:
        return list(self._keys)


class KeyCountingStash(DictionaryStash):
    """Counts how many keys were pulled from keys() and forbids loads."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.keys_pulled = 0

    def keys(self) -> Iterator[str]:  # type: ignore[override]
        for k in list(self.data):
            self.keys_pulled += 1
            yield k

    def load(self, name: str) -> Any:
        raise AssertionError('has_data must not load values')


# --- FactoryStash ---------------------------------------------------------

def test_factory_creates_a_missing_item_once_and_keeps_it() -> None:
    factory = CountingFactory(['a'])
    delegate = DictionaryStash()
    stash = FactoryStash(delegate, factory)
    assert stash.load('a') == 'made:a'
    assert stash.load('a') == 'made:a'
    assert factory.calls == {'a': 1}
    assert delegate.load('a') == 'made:a'


def test_factory_does_not_recreate_a_stored_none() -> None:
    factory = CountingFactory(['a'])
    delegate = DictionaryStash({'a': None})
    stash = FactoryStash(delegate, factory)
    assert stash.load('a') is None
    assert factory.calls == {}


def test_factory_dumps_none_results_by_default() -> None:
    factory = CountingFactory(['a'], result=None)
    stash = FactoryStash(DictionaryStash(), factory)
    stash.load('a')
    stash.load('a')
    assert factory.calls == {'a': 1}
    assert stash.delegate.exists('a')


def test_factory_keeps_none_results_out_when_asked() -> None:
    factory = CountingFactory(['a'], result=None)
    stash = FactoryStash(DictionaryStash(), factory, dump_factory_nones=False)
    stash.load('a')
    stash.load('a')
    assert factory.calls == {'a': 2}
    assert not stash.delegate.exists('a')


def test_factory_keys_come_from_factory_until_delegate_has_data() -> None:
    factory = CountingFactory(['a', 'b'])
    assert list(FactoryStash(DictionaryStash(), factory).keys()) == ['a', 'b']
    filled = FactoryStash(DictionaryStash({'x': 1}), factory)
    assert list(filled.keys()) == ['x']
    no_preempt = FactoryStash(DictionaryStash({'x': 1}), factory,
                              enable_preemptive=False)
    assert list(no_preempt.keys()) == ['a', 'b']


def test_factory_keys_come_from_the_delegate_once_a_load_has_filled_it(
        tmp_path: Path) -> None:
    factory = CountingFactory([str(i) for i in range(6)])
    feats = FactoryStash(DirectoryStash(tmp_path), factory)
    assert len(feats) == 6          # the factory's keys: the delegate is empty
    assert feats['2'] == 'made:2'
    assert list(feats) == [('2', 'made:2')]
    assert factory.calls == {'2': 1}
    assert sorted(os.listdir(tmp_path)) == ['2.dat']


def test_factory_exists_is_the_delegates() -> None:
    factory = CountingFactory(['a', 'b'])
    stash = FactoryStash(DictionaryStash(), factory)
    assert not stash.exists('b') and 'b' not in stash
    stash.load('b')
    assert stash.exists('b') and 'b' in stash
    assert factory.calls == {'b': 1}


def test_factory_get_never_creates() -> None:
    factory = CountingFactory(['a'])
    stash = FactoryStash(DictionaryStash(), factory)
    assert stash.get('a', 'dflt') == 'dflt'
    assert factory.calls == {}


def test_factory_clear_leaves_a_read_only_factory_alone() -> None:
    class ClearTracking(CountingFactory):
        cleared = False
        strict = True

        def clear(self) -> None:
            type(self).cleared = True

    stash = FactoryStash(DictionaryStash({'a': 1}), ClearTracking(['a']))
    stash.clear()
    assert not ClearTracking.cleared
    assert len(stash.delegate) == 0
    FactoryStash(DictionaryStash(), ClearTracking(['a']),
                 force_clear_factory=True).clear()
    assert ClearTracking.cleared


def test_factory_clear_clears_a_writable_factory() -> None:
    factory = DictionaryStash({'a': 1})
    FactoryStash(DictionaryStash(), factory).clear()
    assert len(factory) == 0


def test_factory_rejects_a_factory_that_is_not_a_stash() -> None:
    with pytest.raises(TypeError, match='factory'):
        FactoryStash(DictionaryStash(), {'a': 1})  # type: ignore[arg-type]


# --- PreemptiveStash ------------------------------------------------------

def test_has_data_reads_one_key_and_no_values() -> None:
    delegate = KeyCountingStash({'a': 1, 'b': 2, 'c': 3})
    stash = PreemptiveStash(delegate)
    assert stash.has_data
    assert delegate.keys_pulled == 1


def test_has_data_is_remembered_until_reset_or_clear() -> None:
    delegate = DictionaryStash()
    stash = PreemptiveStash(delegate)
    assert not stash.has_data
    delegate.dump('a', 1)
    assert not stash.has_data
    stash._reset_has_data()
    assert stash.has_data
    stash.clear()
    assert not stash.has_data


# --- OneShotFactoryStash --------------------------------------------------

def test_one_shot_runs_a_callable_worker_once_on_first_read() -> None:
    runs: list[int] = []

    def worker() -> list[tuple[str, int]]:
        runs.append(1)
        return [('a', 1), ('b', 2)]

    stash = OneShotFactoryStash(DictionaryStash(), worker)
    assert runs == []
    assert stash.load('a') == 1
    assert sorted(stash.keys()) == ['a', 'b']
    assert stash.exists('b') and len(stash) == 2
    assert runs == [1]


def test_one_shot_consumes_an_iterable_worker() -> None:
    stash = OneShotFactoryStash(DictionaryStash(),
                                iter([('a', 1), ('b', 2)]))
    assert dict(stash.items()) == {'a': 1, 'b': 2}


def test_one_shot_does_not_run_when_the_delegate_has_data() -> None:
    def worker() -> list[tuple[str, int]]:
        raise AssertionError('must not run')

    stash = OneShotFactoryStash(DictionaryStash({'a': 1}), worker)
    assert stash.load('a') == 1


def test_one_shot_runs_once_even_when_the_worker_yields_nothing() -> None:
    runs: list[int] = []

    def worker() -> list[tuple[str, int]]:
        runs.append(1)
        return []

    stash = OneShotFactoryStash(DictionaryStash(), worker)
    stash.keys()
    stash.load('x')
    assert runs == [1]


def test_one_shot_takes_its_worker_as_an_attribute_set_later() -> None:
    stash = OneShotFactoryStash(DictionaryStash())
    stash.worker = [('a', 1), ('b', 2)]
    assert list(stash.keys()) == ['a', 'b']
    assert stash.load('b') == 2


def test_one_shot_worker_may_be_a_property_of_a_subclass() -> None:
    class Squares(OneShotFactoryStash):
        @property
        def worker(self) -> list[tuple[str, int]]:
            return [(str(i), i * i) for i in range(3)]

    assert dict(Squares(DictionaryStash()).items()) == \
        {'0': 0, '1': 1, '2': 4}


def test_one_shot_worker_may_be_a_method_of_a_subclass() -> None:
    class Squares(OneShotFactoryStash):
        def worker(self) -> list[tuple[str, int]]:
            return [(str(i), i * i) for i in range(3)]

    assert Squares(DictionaryStash()).load('2') == 4


def test_one_shot_worker_type_tells_a_property_returning_a_callable() -> None:
    def pairs() -> list[tuple[str, int]]:
        return [('a', 1)]

    class Named(OneShotFactoryStash):
        def _get_worker_type(self) -> str:
            return 'm'

        @property
        def worker(self) -> Any:
            return pairs

    assert Named(DictionaryStash()).load('a') == 1


def test_one_shot_without_a_worker_says_how_to_give_one() -> None:
    stash = OneShotFactoryStash(DictionaryStash())
    with pytest.raises(PersistableError, match='worker'):
        stash.load('a')


def test_one_shot_refuses_a_worker_attribute_that_is_neither() -> None:
    stash = OneShotFactoryStash(DictionaryStash())
    stash.worker = 42  # type: ignore[assignment]
    with pytest.raises(TypeError, match='worker'):
        stash.keys()


def test_one_shot_rejects_a_worker_that_is_neither() -> None:
    with pytest.raises(TypeError, match='worker'):
        OneShotFactoryStash(DictionaryStash(), 42)  # type: ignore[arg-type]


# --- CacheStash -----------------------------------------------------------

class ReadOnlyDict(ReadOnlyStash):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def load(self, name: str) -> Any:
        return self.data.get(name)

    def keys(self) -> list[str]:
        return list(self.data)


def test_cache_never_deletes_from_a_read_only_delegate() -> None:
    delegate = ReadOnlyDict({'a': 1})
    delegate.strict = True  # any delete that reached it would raise
    stash = CacheStash(delegate)
    assert stash.load('a') == 1
    stash.delete('a')
    stash.clear()
    assert delegate.data == {'a': 1}
    assert not stash.cache_stash.exists('a')


def test_cache_read_only_flag_protects_a_writable_delegate() -> None:
    delegate = DictionaryStash({'a': 1})
    stash = CacheStash(delegate, read_only=True)
    stash.load('a')
    stash.delete('a')
    stash.clear()
    assert delegate.load('a') == 1


def test_cache_serves_the_second_read_from_the_cache() -> None:
    delegate = DictionaryStash({'a': 1})
    stash = CacheStash(delegate)
    stash.load('a')
    delegate.dump('a', 2)  # behind the cache's back
    assert stash.load('a') == 1


def test_cache_does_not_cache_misses() -> None:
    delegate = DictionaryStash()
    stash = CacheStash(delegate)
    assert stash.load('a') is None
    delegate.dump('a', 1)
    assert stash.load('a') == 1


# --- UnionStash, SortedStash, KeyLimitStash, KeySubsetStash ---------------

def test_union_lists_a_shared_key_once_and_serves_the_first() -> None:
    stash = UnionStash([DictionaryStash({'a': 1, 'b': 2}),
                        DictionaryStash({'b': 20, 'c': 30})])
    assert stash.keys() == ['a', 'b', 'c']
    assert stash['b'] == 2
    assert len(stash) == 3


def test_union_does_not_ask_later_members_to_create() -> None:
    factory = CountingFactory(['a'])
    creating = FactoryStash(DictionaryStash(), factory)
    stash = UnionStash([DictionaryStash({'a': 1}), creating])
    assert stash.load('a') == 1
    assert factory.calls == {}


def test_union_rejects_non_stash_members() -> None:
    with pytest.raises(TypeError, match='stashes'):
        UnionStash([{'a': 1}])  # type: ignore[list-item]


def test_sorted_orders_keys_by_the_sort_function() -> None:
    stash = SortedStash(DictionaryStash({'10': 0, '9': 0, '100': 0}))
    assert stash.keys() == ['10', '100', '9']
    stash.sort_function = int
    assert stash.keys() == ['9', '10', '100']


def test_key_limit_shows_at_most_limit_keys() -> None:
    stash = KeyLimitStash(DictionaryStash({k: 1 for k in 'abcdef'}), 3)
    assert stash.keys() == ['a', 'b', 'c']
    assert len(stash) == 3 and not stash.exists('d')
    with pytest.raises(ValueError, match='limit'):
        KeyLimitStash(DictionaryStash(), -1)


def test_key_subset_from_a_newline_file(tmp_path: Path) -> None:
    keys = tmp_path / 'keys.txt'
    keys.write_text('b\n\na\nzz\n')
    stash = KeySubsetStash(DictionaryStash({'a': 1, 'b': 2, 'c': 3}), keys)
    assert stash.keys() == ['b', 'a']
    assert stash.load('c') is None and 'c' not in stash


def test_key_subset_static_remembers_dynamic_rereads(tmp_path: Path) -> None:
    keys = tmp_path / 'keys.txt'
    keys.write_text('a\n')
    data = DictionaryStash({'a': 1, 'b': 2})
    static = KeySubsetStash(data, keys)
    dynamic = KeySubsetStash(data, keys, dynamic_subset=True)
    assert static.keys() == dynamic.keys() == ['a']
    keys.write_text('a\nb\n')
    assert static.keys() == ['a']
    assert dynamic.keys() == ['a', 'b']


def test_key_subset_names_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / 'nope.txt'
    stash = KeySubsetStash(DictionaryStash(), missing)
    with pytest.raises(PersistableError, match='nope.txt'):
        stash.keys()


def test_key_subset_rejects_a_plain_string() -> None:
    with pytest.raises(TypeError, match='key_subset'):
        KeySubsetStash(DictionaryStash(), 'abc')


def test_key_subset_is_read_only() -> None:
    data = DictionaryStash({'a': 1})
    stash = KeySubsetStash(data, {'a'})
    stash.dump('a', 2)
    stash.delete('a')
    assert data.load('a') == 1


# --- ReadOnlyStash, DelegateStash, NoopStash, CloseableStash --------------

def test_read_only_ignores_writes_unless_strict() -> None:
    stash = ReadOnlyDict({'a': 1})
    stash.dump('b', 2)
    stash.delete('a')
    stash.clear()
    assert stash.data == {'a': 1}
    stash.strict = True
    for write in (lambda: stash.dump('b', 2), lambda: stash.delete('a'),
                  stash.clear):
        with pytest.raises(PersistableError, match='read-only'):
            write()


def test_delegate_none_raises_at_construction() -> None:
    with pytest.raises(PersistableError, match='delegate'):
        DelegateStash(None)  # type: ignore[arg-type]


class _DuckStash:
    """Has the stash primitives without deriving from Stash, as a stash
    class from a reloaded module does."""

    def load(self, name: str) -> Any:
        return None

    def dump(self, name: str, inst: Any) -> None:
        pass

    def delete(self, name: Any = None) -> None:
        pass

    def keys(self) -> list[str]:
        return []


@pytest.mark.parametrize('make', [
    lambda bad: DelegateStash(bad),
    lambda bad: CacheStash(bad),
    lambda bad: SortedStash(bad),
    lambda bad: KeyLimitStash(bad, 3),
    lambda bad: ProtectiveStash(bad),
    lambda bad: PreemptiveStash(bad),
    lambda bad: FactoryStash(bad, DictionaryStash()),
    lambda bad: OneShotFactoryStash(bad, []),
], ids=['delegate', 'cache', 'sorted', 'key-limit', 'protective',
        'preemptive', 'factory', 'one-shot'])
def test_a_delegate_that_is_not_a_stash_is_refused_at_construction(
        make: Any) -> None:
    with pytest.raises(TypeError, match=r'delegate must be a Stash, got dict'):
        make({})


def test_a_cache_stash_that_is_not_a_stash_is_refused_at_construction(
        ) -> None:
    with pytest.raises(TypeError,
                       match=r'cache_stash must be a Stash, got dict'):
        CacheStash(DictionaryStash(), cache_stash={})  # type: ignore[arg-type]


def test_a_delegate_with_the_stash_primitives_is_accepted() -> None:
    outer = DelegateStash(_DuckStash())  # type: ignore[arg-type]
    assert outer.load('a') is None


def test_class_check_also_refuses_a_delegate_of_another_class(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DelegateDefaults, 'CLASS_CHECK', True)
    with pytest.raises(PersistableError, match='_DuckStash'):
        DelegateStash(_DuckStash())  # type: ignore[arg-type]


def test_delegate_attr_forwards_unknown_attributes_only_when_on() -> None:
    inner = DictionaryStash()
    inner.label = 'inner'  # type: ignore[attr-defined]
    outer = DelegateStash(inner)
    with pytest.raises(AttributeError, match='label'):
        outer.label  # noqa: B018
    outer.delegate_attr = True
    assert outer.label == 'inner'


def test_delegate_attr_set_on_a_subclass_forwards_unknown_attributes(
        ) -> None:
    class Forwarding(DelegateStash):
        delegate_attr = True

    inner = DictionaryStash({'a': 1})
    assert Forwarding(inner).data == {'a': 1}


def test_delegate_defaults_delegate_attr_turns_forwarding_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert DelegateDefaults.DELEGATE_ATTR is False
    monkeypatch.setattr(DelegateDefaults, 'DELEGATE_ATTR', True)
    assert DelegateStash(DictionaryStash({'a': 1})).data == {'a': 1}


class PrimeCounting(DelegateStash):
    """Counts the primes its reads make."""

    primes = 0

    def prime(self) -> None:
        self.primes += 1
        super().prime()


@pytest.mark.parametrize('read', [
    lambda s: s.load('a'), lambda s: s.get('a'), lambda s: s.exists('a'),
    lambda s: s.keys(), len, lambda s: s['a'], lambda s: list(s)])
def test_a_delegate_stash_subclass_primes_before_each_read(
        read: Any) -> None:
    stash = PrimeCounting(DictionaryStash({'a': 1}))
    read(stash)
    assert stash.primes >= 1


def test_a_delegate_stash_read_primes_once() -> None:
    stash = PrimeCounting(DictionaryStash({'a': 1}))
    stash.load('a')
    assert stash.primes == 1


def test_primeable_may_come_before_delegate_stash_in_the_bases() -> None:
    class Primed(PrimeableStash, DelegateStash):
        primes = 0

        def prime(self) -> None:
            self.primes += 1
            super().prime()

    stash = Primed(DictionaryStash({'a': 1}))
    assert stash.load('a') == 1
    assert stash.primes == 1
    assert len(stash) == 1
    assert stash.primes == 2


def test_primeable_may_come_after_delegate_stash_in_the_bases() -> None:
    class Primed(DelegateStash, PrimeableStash):
        primes = 0

        def prime(self) -> None:
            self.primes += 1
            super().prime()

    stash = Primed(DictionaryStash({'a': 1}))
    assert stash.load('a') == 1
    assert stash.primes == 1


def test_a_delegate_stash_is_primeable_and_primes_its_delegate() -> None:
    inner = PrimeCounting(DictionaryStash())
    outer = DelegateStash(inner)
    assert isinstance(outer, PrimeableStash) and isinstance(outer, Primeable)
    outer.prime()
    assert inner.primes == 1


def test_delegate_stash_pickles_with_its_delegate() -> None:
    outer = CacheStash(DictionaryStash({'a': 1}))
    outer.delegate_attr = True
    copy = pickle.loads(pickle.dumps(outer))
    assert copy.load('a') == 1


def test_noop_stores_nothing() -> None:
    stash = NoopStash()
    stash.dump('a', 1)
    assert stash.load('a') is None and len(stash) == 0
    with pytest.raises(KeyError):
        stash['a']


def test_closeable_closes_on_with_exit_even_on_error() -> None:
    class Tracked(DictionaryStash):
        closed = False

        def close(self) -> None:
            self.closed = True

    stash = Tracked()
    with pytest.raises(RuntimeError):
        with stash:
            raise RuntimeError('boom')
    assert stash.closed
    wrapper = DelegateStash(Tracked())
    with wrapper:
        pass
    assert wrapper.delegate.closed  # type: ignore[attr-defined]
    assert isinstance(wrapper, CloseableStash)


# --- LRUCacheStash, ProtectiveStash ---------------------------------------

def test_lru_drops_the_least_recently_used() -> None:
    stash = LRUCacheStash(maxsize=2)
    stash.dump('a', 1)
    stash.dump('b', 2)
    stash.load('a')
    stash.dump('c', 3)
    assert sorted(stash.keys()) == ['a', 'c']
    with pytest.raises(ValueError, match='maxsize'):
        LRUCacheStash(0)


def test_lru_survives_pickling() -> None:
    stash = LRUCacheStash(maxsize=2)
    stash.dump('a', 1)
    copy = pickle.loads(pickle.dumps(stash))
    copy.dump('b', 2)
    copy.dump('c', 3)
    assert list(copy.keys()) == ['b', 'c']


def test_protective_stores_the_exception_of_a_failed_dump() -> None:
    class NoLists(DictionaryStash):
        def dump(self, name: str, inst: Any) -> None:
            if isinstance(inst, list):
                raise TypeError('no lists')
            super().dump(name, inst)

    stash = ProtectiveStash(NoLists(), log_errors=False)
    stash.dump('ok', 1)
    stash.dump('bad', [1])
    assert stash.load('ok') == 1
    err = stash.load('bad')
    assert isinstance(err, TypeError) and 'no lists' in str(err)


def test_protective_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    class Refuses(DictionaryStash):
        def dump(self, name: str, inst: Any) -> None:
            if not isinstance(inst, BaseException):
                raise ValueError('refused')
            super().dump(name, inst)

    ProtectiveStash(Refuses(), log_errors=True).dump('k', 1)
    assert "could not dump 'k'" in caplog.text


def test_dictionary_stash_takes_its_dict_under_the_original_keyword() -> None:
    backing = {'a': 1}
    stash = DictionaryStash(_data=backing)
    stash.dump('b', 2)
    assert backing == {'a': 1, 'b': 2}
    with pytest.raises(TypeError, match='_data'):
        DictionaryStash({}, _data={})


def test_defaults_where_the_original_had_none() -> None:
    assert ProtectiveStash(DictionaryStash()).log_errors is True
    assert LRUCacheStash().maxsize == 128
    made = CacheFactoryStash(factory=DictionaryStash({'a': None}))
    assert isinstance(made.delegate, DictionaryStash)
    assert (made.enable_preemptive, made.dump_factory_nones) == (False, True)
    made.load('a')
    assert made.delegate.exists('a')   # the None made is kept
