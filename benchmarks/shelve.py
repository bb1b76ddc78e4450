"""ShelveStash against zensols.persist's and the stdlib ``shelve`` it wraps.

Two option sets, the same for every peer:

* ``open-once`` (``auto_close=False``, ``writeback=False``): the shelf stays
  open, so the figures show the back end itself; this is the growth sweep.
* ``defaults`` (``writeback=True, auto_close=True``, the original API's
  defaults): every operation opens and closes the shelf.  On ``dbm.dumb``
  (the only back end this Python has) an open reads the whole index, so this
  runs only at the smallest size.
"""

from __future__ import annotations

import shelve as stdlib_shelve
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .harness import HUTCH, Config, Item, require
from .stashops import Adapter, Builder, StashAdapter, stash_cases

AREA = 'shelve'


class StdlibShelf(Adapter):
    """The stdlib: ``shelve.open`` held open (or reopened per operation)."""

    def __init__(self, path: Path, writeback: bool, auto_close: bool) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.file = str(path / 'shelf')
        self.writeback = writeback
        self.auto_close = auto_close
        self.shelf = None if auto_close else self._open()

    def _open(self) -> stdlib_shelve.Shelf[Any]:
        return stdlib_shelve.open(self.file, writeback=self.writeback)

    def _call(self, fn: Any) -> Any:
        if self.shelf is not None:
            return fn(self.shelf)
        with self._open() as shelf:
            return fn(shelf)

    def dump(self, key: str, value: Any) -> None:
        def put(shelf: Any) -> None:
            shelf[key] = value
        self._call(put)

    def load(self, key: str) -> Any:
        return self._call(lambda s: s.get(key))

    def exists(self, key: str) -> bool:
        return bool(self._call(lambda s: key in s))

    def keys(self) -> Iterable[str]:
        return self._call(lambda s: list(s.keys()))  # type: ignore[no-any-return]

    def length(self) -> int:
        return int(self._call(len))

    def items(self) -> Iterable[tuple[str, Any]]:
        return self._call(lambda s: list(s.items()))  # type: ignore[no-any-return]

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        def put_all(shelf: Any) -> None:
            for key, value in items:
                shelf[key] = value
        self._call(put_all)

    def close(self) -> None:
        if self.shelf is not None:
            self.shelf.close()


class ShelfStash(StashAdapter):
    """A ``ShelveStash`` (hutch's or zensols.persist's).  With ``auto_close``
    it is filled through a second instance held open (and closed before the
    timing starts), so that set-up costs no open per item."""

    def __init__(self, cls: Any, file: Path, writeback: bool, auto_close: bool) -> None:
        self.cls, self.file, self.auto_close = cls, file, auto_close
        super().__init__(cls(file, writeback=writeback, auto_close=auto_close))

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        if not self.auto_close:
            super().fill(items)
            return
        filler = self.cls(self.file, writeback=False, auto_close=False)
        try:
            for key, value in items:
                filler.dump(key, value)
        finally:
            filler.close()


def _builders(writeback: bool, auto_close: bool) -> dict[str, Builder]:
    def build(module: str) -> Builder:
        def make(path: Path) -> Adapter:
            cls = require(module, 'ShelveStash').ShelveStash
            path.mkdir(parents=True, exist_ok=True)
            return ShelfStash(cls, path / 'shelf', writeback, auto_close)
        return make

    def stdlib_build(path: Path) -> Adapter:
        return StdlibShelf(path, writeback, auto_close)

    return {HUTCH: build('hutch'), 'zensols': build('zensols.persist'),
            'stdlib-shelve': stdlib_build}


def cases(cfg: Config) -> Iterator[Item]:
    open_once = _builders(writeback=False, auto_close=False)
    for n in cfg.counts:
        yield from stash_cases(cfg, AREA, 'growth', open_once, n, cfg.value_bytes)
    defaults = _builders(writeback=True, auto_close=True)
    yield from stash_cases(cfg, AREA, 'defaults', defaults, min(cfg.counts),
                           cfg.value_bytes, sample=min(cfg.sample // 20, 100),
                           ops=('dump', 'load', 'exists', 'keys', 'len'))
