"""Stashes that keep their data in this process's memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, KeysView, Mapping
from typing import Any, Optional

from ..util import MISSING, _FreshLocks, check_int
from .base import CloseableStash

__all__ = ['DictionaryStash', 'LRUCacheStash']


class DictionaryStash(CloseableStash):
    """A stash backed by a ``dict``: the usual cache in front of slow stashes.

    :param data: the dict to use (kept, not copied); a new one when ``None``
    :param _data: the same, under the keyword the original API used

    >>> s = DictionaryStash()
    >>> s.dump('a', 1)
    >>> s.keys(), s['a']
    (dict_keys(['a']), 1)
    """

    def __init__(self, data: Optional[Mapping[str, Any]] = None, *,
                 _data: Optional[Mapping[str, Any]] = None) -> None:
        if data is None:
            data = _data
        elif _data is not None:
            raise TypeError('give the dict as data or as _data, not both')
        self._data: dict[str, Any] = {} if data is None else data  # type: ignore[assignment]

    @property
    def data(self) -> dict[str, Any]:
        """The backing dict."""
        return self._data

    def load(self, name: str) -> Any:
        return self._data.get(name)

    def lookup(self, name: str) -> Any:
        return self._data.get(name, MISSING)

    def get(self, name: str, default: Any = None) -> Any:
        return self._data.get(name, default)

    def exists(self, name: str) -> bool:
        return name in self._data

    def dump(self, name: str, inst: Any) -> None:
        self._data[name] = inst

    def delete(self, name: Optional[str] = None) -> None:
        self._data.pop(name, None)  # type: ignore[arg-type]

    def clear(self) -> None:
        self._data.clear()

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({len(self._data)} items)'


class LRUCacheStash(_FreshLocks, DictionaryStash):
    """A bounded in-memory stash that drops the least recently used item.

    Reading or writing an item makes it the most recent.  Thread safe.

    :param maxsize: the most items kept; must be positive

    >>> s = LRUCacheStash(maxsize=2)
    >>> s.dump('a', 1); s.dump('b', 2); _ = s.load('a'); s.dump('c', 3)
    >>> list(s.keys())
    ['a', 'c']
    """

    _LOCKS = {'_lock': threading.Lock}

    def __init__(self, maxsize: int = 128) -> None:
        check_int(maxsize, 'maxsize', low=1)
        super().__init__(OrderedDict())
        self.maxsize = maxsize
        self._lock = threading.Lock()

    def load(self, name: str) -> Any:
        with self._lock:
            data: OrderedDict[str, Any] = self._data  # type: ignore[assignment]
            if name in data:
                data.move_to_end(name)
                return data[name]
            return None

    def lookup(self, name: str) -> Any:
        return self.get(name, MISSING)

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            data: OrderedDict[str, Any] = self._data  # type: ignore[assignment]
            if name in data:
                data.move_to_end(name)
                return data[name]
            return default

    def dump(self, name: str, inst: Any) -> None:
        with self._lock:
            data: OrderedDict[str, Any] = self._data  # type: ignore[assignment]
            data[name] = inst
            data.move_to_end(name)
            while len(data) > self.maxsize:
                data.popitem(last=False)

    def delete(self, name: Optional[str] = None) -> None:
        with self._lock:
            self._data.pop(name, None)  # type: ignore[arg-type]

    def keys(self) -> Iterable[str]:  # type: ignore[override]
        with self._lock:
            return list(self._data.keys())
