"""Stashes that combine or reorder others: cache, sort, union."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

from ..util import MISSING
from .base import (
    ReadOnlyStash,
    Stash,
    check_stash,
    init_fields,
)
from .delegate import DelegateStash
from .memory import DictionaryStash

__all__ = ['CacheStash', 'SortedStash', 'UnionStash']


@init_fields
class CacheStash(DelegateStash):
    """Keeps what it reads from (and writes to) the delegate in a cache stash.

    Writes go to both.  Deletes and clears reach the delegate unless
    :attr:`read_only` is set or the delegate is a
    :class:`~hutch.ReadOnlyStash`; the cache is always emptied.

    :param cache_stash: where cached items live (a new
        :class:`~hutch.DictionaryStash` when ``None``)
    :param read_only: never delete from the delegate

    >>> from hutch import DictionaryStash
    >>> slow = DictionaryStash({'a': 1})
    >>> s = CacheStash(slow)
    >>> s.load('a'), list(s.cache_stash.keys())
    (1, ['a'])
    """

    def __init__(self, delegate: Stash, cache_stash: Optional[Stash] = None,
                 read_only: bool = False) -> None:
        super().__init__(delegate)
        self.cache_stash = DictionaryStash() if cache_stash is None \
            else check_stash(cache_stash, 'cache_stash')
        self.read_only = read_only

    def _delegate_writable(self) -> bool:
        return not self.read_only and self.delegate.writable

    def load(self, name: str) -> Any:
        item = self._read_through(name)
        return None if item is MISSING else item

    def lookup(self, name: str) -> Any:
        return self._read_through(name)

    def _read_through(self, name: str) -> Any:
        """The cached item, else the delegate's (then cached): one read of
        the cache, and on a miss one of the delegate."""
        item = self.cache_stash.lookup(name)
        if item is MISSING:
            item = self.delegate.lookup(name)
            if item is not MISSING:
                self.cache_stash.dump(name, item)
        return item

    def get(self, name: str, default: Any = None) -> Any:
        # as lookup, but a factory behind is not asked to create the item
        item = self.cache_stash.get(name, MISSING)
        if item is MISSING:
            item = self.delegate.get(name, MISSING)
            if item is MISSING:
                return default
            self.cache_stash.dump(name, item)
        return item

    def exists(self, name: str) -> bool:
        return self.cache_stash.exists(name) or self.delegate.exists(name)

    def dump(self, name: str, inst: Any) -> None:
        self.delegate.dump(name, inst)
        self.cache_stash.dump(name, inst)

    def delete(self, name: Optional[str] = None) -> None:
        self.cache_stash.delete(name)
        if self._delegate_writable():
            self.delegate.delete(name)

    def clear(self) -> None:
        if self._delegate_writable():
            self.delegate.clear()
        self.cache_stash.clear()

    def close(self) -> None:
        super().close()
        self.cache_stash.close()


@init_fields
class SortedStash(DelegateStash):
    """Gives the delegate's keys in sorted order.

    :param sort_function: the sort key (as for :func:`sorted`); natural
        order when ``None``

    >>> from hutch import DictionaryStash
    >>> s = SortedStash(DictionaryStash({'10': 0, '9': 0}), sort_function=int)
    >>> s.keys()
    ['9', '10']
    """

    def __init__(self, delegate: Stash,
                 sort_function: Optional[Callable[[str], Any]] = None) -> None:
        super().__init__(delegate)
        self.sort_function = sort_function

    def keys(self) -> list[str]:
        return sorted(self.delegate.keys(), key=self.sort_function)


class UnionStash(ReadOnlyStash):
    """A read-only union of several stashes; the first that has a key wins.

    :param stashes: the members, in order of precedence

    >>> from hutch import DictionaryStash
    >>> u = UnionStash([DictionaryStash({'a': 1}), DictionaryStash({'a': 2, 'b': 3})])
    >>> u['a'], sorted(u.keys())
    (1, ['a', 'b'])
    """

    def __init__(self, stashes: Sequence[Stash]) -> None:
        if isinstance(stashes, Stash):
            raise TypeError('stashes must be a sequence of stashes, got one '
                            f'stash: {stashes!r}')
        self.stashes = [check_stash(s, f'stashes[{i}]')
                        for i, s in enumerate(stashes)]

    def load(self, name: str) -> Any:
        return self._find(name, None)

    def lookup(self, name: str) -> Any:
        return self._find(name, MISSING)

    def get(self, name: str, default: Any = None) -> Any:
        return self._find(name, default)

    def _find(self, name: str, default: Any) -> Any:
        # ask exists() first so a member that could *create* the item (a
        # factory) is not made to when an earlier member holds it
        for stash in self.stashes:
            if stash.exists(name):
                return stash.load(name)
        return default

    def exists(self, name: str) -> bool:
        return any(stash.exists(name) for stash in self.stashes)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for stash in self.stashes:
            seen.update(dict.fromkeys(stash.keys()))
        return list(seen)

    def prime(self) -> None:
        for stash in self.stashes:
            stash.prime()
