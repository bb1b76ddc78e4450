"""Every in-memory and stacking stash runs the shared contract suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hutch import (
    CacheFactoryStash,
    CacheStash,
    DelegateStash,
    DictionaryStash,
    FactoryStash,
    KeyLimitStash,
    KeySubsetStash,
    LRUCacheStash,
    NoopStash,
    OneShotFactoryStash,
    PreemptiveStash,
    PrimablePreemptiveStash,
    ProtectiveStash,
    ReadOnlyDelegateStash,
    SortedStash,
    Stash,
    UnionStash,
)
from hutch.testing import ReadContract, WriteContract


class TestDictionaryStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return DictionaryStash()


class TestLRUCacheStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return LRUCacheStash(maxsize=1000)


class TestDelegateStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return DelegateStash(DictionaryStash())


class TestPreemptiveStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return PreemptiveStash(DictionaryStash())


class TestPrimablePreemptiveStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return PrimablePreemptiveStash(DictionaryStash())


class TestProtectiveStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return ProtectiveStash(DictionaryStash(), log_errors=False)


class TestKeyLimitStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return KeyLimitStash(DictionaryStash(), limit=1000)


class TestSortedStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return SortedStash(DictionaryStash())


class TestCacheStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return CacheStash(DictionaryStash())


class TestCacheStashOverLRU(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return CacheStash(DictionaryStash(), cache_stash=LRUCacheStash(2))


class TestFactoryStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return FactoryStash(DictionaryStash(), NoopStash(),
                            dump_factory_nones=False)


class TestCacheFactoryStash(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        return CacheFactoryStash(factory=DictionaryStash(dict(items)))


class TestReadOnlyDelegateStash(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        return ReadOnlyDelegateStash(DictionaryStash(dict(items)))


class TestKeySubsetStash(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        delegate = DictionaryStash({**items, 'hidden': 'not in subset'})
        return KeySubsetStash(delegate, set(items) | {'absent'})


class TestKeySubsetStashFromFile(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        subset = tmp_path / 'keys.txt'
        subset.write_text(''.join(f'{k}\n' for k in items) + '\nabsent\n')
        delegate = DictionaryStash({**items, 'hidden': 1})
        return KeySubsetStash(delegate, subset, dynamic_subset=True)


class TestUnionStash(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        keys = list(items)
        first = DictionaryStash({k: items[k] for k in keys[::2]})
        second = DictionaryStash({k: items[k] for k in keys[1::2]})
        # overlap: the second also holds the first's keys, with other values
        for k in keys[::2]:
            second.dump(k, 'shadowed')
        return UnionStash([first, second])


class TestOneShotFactoryStash(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        return OneShotFactoryStash(DictionaryStash(), list(items.items()))
