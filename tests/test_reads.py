"""One read per lookup, and what a stash can do said in one place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    MISSING,
    CacheFactoryStash,
    CacheStash,
    DelegateStash,
    DictionaryStash,
    DirectoryStash,
    FactoryStash,
    KeySubsetStash,
    LRUCacheStash,
    ReadOnlyDelegateStash,
    ReadOnlyStash,
    ShelveStash,
    SqliteStash,
    Stash,
    UnionStash,
    ZipStash,
)


class Counted(DictionaryStash):
    """A dict stash that counts the reads that reach it."""

    def __init__(self, data: Any = None) -> None:
        super().__init__(data)
        self.reads: list[str] = []

    def load(self, name: str) -> Any:
        self.reads.append('load')
        return super().load(name)

    def lookup(self, name: str) -> Any:
        self.reads.append('lookup')
        return super().lookup(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.reads.append('get')
        return super().get(name, default)

    def exists(self, name: str) -> bool:
        self.reads.append('exists')
        return super().exists(name)


class Made(ReadOnlyStash):
    def load(self, name: str) -> Any:
        return f'made {name}'

    def keys(self) -> Iterator[str]:
        return iter(())


def test_a_factory_miss_reads_its_delegate_once() -> None:
    store = Counted()
    stash = FactoryStash(store, Made())
    assert stash.load('a') == 'made a'
    assert store.reads == ['lookup']


def test_a_factory_hit_on_a_stored_none_reads_once() -> None:
    store = Counted({'n': None})
    stash = FactoryStash(store, Made())
    assert stash['n'] is None
    assert store.reads == ['lookup']


def test_a_cache_miss_reads_the_cache_once_and_the_delegate_once() -> None:
    cache, slow = Counted(), Counted({'a': 1})
    stash = CacheStash(slow, cache_stash=cache)
    with pytest.raises(KeyError):
        stash['absent']
    assert (cache.reads, slow.reads) == (['lookup'], ['lookup'])


def test_a_cache_of_a_stored_none_keeps_it_after_one_read() -> None:
    slow = Counted({'n': None})
    stash = CacheStash(slow)
    assert stash['n'] is None and stash['n'] is None
    assert slow.reads == ['lookup']


def test_getitem_of_a_stacked_miss_reads_each_layer_once() -> None:
    store = Counted()
    stash = CacheStash(FactoryStash(store, Made()))
    assert stash['k'] == 'made k'
    assert store.reads == ['lookup']


def test_cache_get_never_asks_a_factory_behind_it_to_make_the_item() -> None:
    stash = CacheStash(FactoryStash(DictionaryStash(), Made()))
    assert stash.get('k', 'none yet') == 'none yet'
    assert stash.load('k') == 'made k'
    assert stash.get('k') == 'made k'


@pytest.mark.parametrize('make', [
    lambda tmp: DirectoryStash(tmp / 'd'),
    lambda tmp: SqliteStash(tmp / 'db.sqlite3'),
    lambda tmp: DictionaryStash(),
    lambda tmp: LRUCacheStash(maxsize=8),
], ids=['directory', 'sqlite', 'dictionary', 'lru'])
def test_lookup_tells_a_stored_none_from_a_missing_key(
        make: Any, tmp_path: Path) -> None:
    stash = make(tmp_path)
    stash.dump('n', None)
    stash.dump('v', 3)
    assert (stash.lookup('n'), stash.lookup('v'), stash.lookup('x')) == \
        (None, 3, MISSING)


def test_a_subclass_that_changes_load_is_used_by_getitem(
        tmp_path: Path) -> None:
    class Doubling(DirectoryStash):
        def load(self, name: str) -> Any:
            value = super().load(name)
            return None if value is None else value * 2

    stash = Doubling(tmp_path / 'd')
    stash.dump('a', 21)
    assert stash['a'] == 42
    assert stash.lookup('a') == 42
    with pytest.raises(KeyError):
        stash['absent']


def test_a_subclass_that_changes_exists_is_used_by_getitem() -> None:
    class Hiding(DictionaryStash):
        def exists(self, name: str) -> bool:
            return name != 'hidden'

    stash = Hiding({'hidden': None, 'shown': None})
    assert stash['shown'] is None
    with pytest.raises(KeyError):
        stash['hidden']


def test_a_delegate_subclass_that_changes_load_is_used_by_getitem() -> None:
    class Upper(DelegateStash):
        def load(self, name: str) -> Any:
            value = super().load(name)
            return value.upper() if isinstance(value, str) else value

    assert Upper(DictionaryStash({'a': 'x'}))['a'] == 'X'


def test_a_key_subset_looks_up_only_its_keys() -> None:
    stash = KeySubsetStash(DictionaryStash({'a': None, 'b': 2}), {'a'})
    assert (stash.lookup('a'), stash.lookup('b')) == (None, MISSING)
    assert stash.get('b', 'no') == 'no'


def test_a_union_looks_up_the_first_member_holding_the_key() -> None:
    stash = UnionStash([DictionaryStash({'a': None}),
                        DictionaryStash({'a': 1, 'b': 2})])
    assert (stash.lookup('a'), stash.lookup('b'), stash.lookup('c')) == \
        (None, 2, MISSING)


def test_a_cache_factory_stash_answers_existence_from_its_factory() -> None:
    stash = CacheFactoryStash(factory=DictionaryStash({'a': None}))
    assert stash['a'] is None
    with pytest.raises(KeyError):
        stash['b']


# -- capabilities -----------------------------------------------------------

def _zip(tmp: Path) -> Stash:
    import zipfile
    with zipfile.ZipFile(tmp / 'z.zip', 'w') as z:
        z.writestr('a', 'x')
    return ZipStash(tmp / 'z.zip')


@pytest.mark.parametrize('make, writable, shareable, multihost', [
    (lambda tmp: DictionaryStash(), True, False, False),
    (lambda tmp: DirectoryStash(tmp / 'd'), True, True, True),
    (lambda tmp: SqliteStash(tmp / 'db'), True, True, False),
    (lambda tmp: ShelveStash(tmp / 'shelf'), True, True, False),
    (_zip, False, False, False),
    (lambda tmp: Made(), False, False, False),
    (lambda tmp: CacheStash(DirectoryStash(tmp / 'd')), True, True, True),
    (lambda tmp: ReadOnlyDelegateStash(DirectoryStash(tmp / 'd')),
     False, True, True),
    (lambda tmp: FactoryStash(SqliteStash(tmp / 'db'), Made()),
     True, True, False),
], ids=['dict', 'directory', 'sqlite', 'shelve', 'zip', 'read-only',
        'cache-over-directory', 'read-only-over-directory',
        'factory-over-sqlite'])
def test_each_stash_says_what_it_can_do(
        make: Any, writable: bool, shareable: bool, multihost: bool,
        tmp_path: Path) -> None:
    stash = make(tmp_path)
    try:
        assert (stash.writable, stash.shareable, stash.multihost) == \
            (writable, shareable, multihost)
    finally:
        stash.close()


def test_a_factory_primes_and_closes_any_factory() -> None:
    calls = []

    class Source(Made):  # not a PrimeableStash or a CloseableStash
        def prime(self) -> None:
            calls.append('prime')

        def close(self) -> None:
            calls.append('close')

    stash = FactoryStash(DictionaryStash(), Source())
    stash.prime()
    stash.close()
    assert calls == ['prime', 'close']


def test_a_read_only_factory_is_not_cleared() -> None:
    source = DictionaryStash({'a': 1})
    FactoryStash(DictionaryStash(), ReadOnlyDelegateStash(source)).clear()
    assert source.data == {'a': 1}
    FactoryStash(DictionaryStash(), source).clear()
    assert source.data == {}


def test_get_of_a_subclass_that_changes_load_goes_through_it(
        tmp_path: Path) -> None:
    class Doubling(SqliteStash):
        def load(self, name: str) -> Any:
            value = super().load(name)
            return None if value is None else value * 2

    stash = Doubling(tmp_path / 'db')
    stash.dump('a', 21)
    try:
        assert (stash.get('a'), stash.get('b', 'none')) == (42, 'none')
    finally:
        stash.close()
