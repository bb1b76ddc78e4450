"""In-memory stashes and caches: the price of the stash layer over a dict.

* ``dictionary``: ``DictionaryStash`` against zensols.persist's and the floor,
  a plain ``dict`` behind the same adapter calls.
* ``lru``: ``LRUCacheStash`` (large enough to hold every item) against
  zensols.persist's.
* ``cache-over-directory``: ``CacheStash`` in front of a ``DirectoryStash``,
  every item already cached, against the same stack from zensols.persist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .harness import HUTCH, Config, Item, require
from .stashops import Adapter, Builder, StashAdapter, stash_cases

AREA = 'memory'
N = 10_000


class PlainDict(Adapter):
    """The floor: a ``dict`` behind the adapter's calls."""

    def __init__(self, path: Path) -> None:
        self.data: dict[str, Any] = {}

    def dump(self, key: str, value: Any) -> None:
        self.data[key] = value

    def load(self, key: str) -> Any:
        return self.data.get(key)

    def exists(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> Iterable[str]:
        return self.data.keys()

    def length(self) -> int:
        return len(self.data)

    def items(self) -> Iterable[tuple[str, Any]]:
        return self.data.items()


def _stash(module: str, name: str, *args: Any) -> Builder:
    def build(path: Path) -> Adapter:
        return StashAdapter(getattr(require(module, name), name)(*args))
    return build


def _cache_over_directory(module: str) -> Builder:
    def build(path: Path) -> Adapter:
        lib = require(module, 'CacheStash', 'DirectoryStash')
        return StashAdapter(lib.CacheStash(lib.DirectoryStash(path)))
    return build


def cases(cfg: Config) -> Iterator[Item]:
    yield from stash_cases(cfg, AREA, 'dictionary', {
        HUTCH: _stash('hutch', 'DictionaryStash'),
        'zensols': _stash('zensols.persist', 'DictionaryStash'),
        'floor:dict': PlainDict,
    }, N, cfg.value_bytes)
    yield from stash_cases(cfg, AREA, 'lru', {
        HUTCH: _stash('hutch', 'LRUCacheStash', N),
        'zensols': _stash('zensols.persist', 'LRUCacheStash', N),
    }, N, cfg.value_bytes, ops=('dump', 'load', 'exists'))
    # dump fills the directory and the cache; load and exists then hit the cache
    yield from stash_cases(cfg, AREA, 'cache-over-directory', {
        HUTCH: _cache_over_directory('hutch'),
        'zensols': _cache_over_directory('zensols.persist'),
    }, min(N, max(cfg.counts[0], cfg.sample)), cfg.value_bytes,
        ops=('load', 'exists'))
