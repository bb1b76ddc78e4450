"""``@persisted`` / ``PersistedWork``: the cost of a hit, a file hit and a miss.

* ``hit``: an attribute read through ``@property @persisted('_x')`` once the
  value is cached on the instance, against a hand-written lazy property
  (``if self._v is None: ...; return self._v``), ``functools.cached_property``
  and ``zensols.persist``'s ``@persisted``.  Reads are unrolled ten to a loop
  turn, so the loop itself costs little next to them.
* ``file-hit``: a new instance whose value is read from its pickle file
  (``PersistedWork(Path, ...)``), against zensols.persist, ``joblib.Memory``
  (a cached call whose result is on disk) and the floor ``open`` +
  ``pickle.load``.
* ``miss``: compute a small value and write it to a new file, against the
  same peers and the floor ``open`` + ``pickle.dump`` + ``os.replace``.
"""

from __future__ import annotations

import functools
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .harness import HUTCH, Case, Config, Contender, Item, NotAvailable, Note, require
from .stashops import value_of

AREA = 'persisted'
VALUE_BYTES = 300


def _compute() -> bytes:
    return value_of(VALUE_BYTES)


def _unrolled_reads(obj: Any, attr: str, reads: int) -> Callable[[], int]:
    """A round reading ``obj.<attr>`` ``reads`` times, ten per loop turn."""
    getter = compile(
        'def run(obj, turns):\n'
        '    for _ in range(turns):\n'
        + ''.join(f'        obj.{attr}\n' for _ in range(10))
        + '    return turns * 10\n', f'<reads of {attr}>', 'exec')
    space: dict[str, Any] = {}
    exec(getter, space)
    fn = space['run']
    turns = max(1, reads // 10)
    return lambda: fn(obj, turns)


# -- hit: the value is on the instance -------------------------------------

class Lazy:
    """The hand-written lazy property every cache is measured against."""

    def __init__(self) -> None:
        self._v: Any = None

    @property
    def x(self) -> Any:
        if self._v is None:
            self._v = _compute()
        return self._v


class Cached:
    @functools.cached_property
    def x(self) -> Any:
        return _compute()


def _hutch_hit() -> Any:
    hutch = require('hutch', 'persisted', 'PersistableContainer')

    class Hutch(hutch.PersistableContainer):  # type: ignore[misc, name-defined]
        @property
        @hutch.persisted('_x')
        def x(self) -> Any:
            return _compute()
    return Hutch()


def _zensols_hit() -> Any:
    persist = require('zensols.persist', 'persisted', 'PersistableContainer')

    class Zensols(persist.PersistableContainer):  # type: ignore[misc, name-defined]
        @property
        @persist.persisted('_x')
        def x(self) -> Any:
            return _compute()
    return Zensols()


def _hit_case(cfg: Config) -> Iterator[Item]:
    makers: dict[str, Callable[[], Any]] = {
        HUTCH: _hutch_hit, 'zensols': _zensols_hit,
        'lazy-property': Lazy, 'cached_property': Cached}
    contenders = []
    for peer, make in makers.items():
        try:
            obj = make()
        except NotAvailable as e:
            yield Note(AREA, 'hit', f'{peer}: not available ({e})')
            continue
        _ = obj.x  # the first read computes; the rounds time hits only
        contenders.append(Contender(peer, _unrolled_reads(obj, 'x', cfg.hits)))
    yield Case(AREA, 'hit', 'read', {'reads': cfg.hits}, contenders)


# -- file-hit and miss: the value is in a file ------------------------------

def _path_class(module: str) -> type:
    """A container whose ``x`` is persisted to the file it is given."""
    lib = require(module, 'persisted', 'PersistedWork', 'PersistableContainer')

    class Container(lib.PersistableContainer):  # type: ignore[misc, name-defined]
        def __init__(self, path: Path) -> None:
            self._x = lib.PersistedWork(path, self)

        @property
        @lib.persisted('_x')
        def x(self) -> Any:
            return _compute()
    return Container


class FileWork:
    """One peer's way to compute-and-write (miss) and to read back (file hit)."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.paths = [folder / f'{i}.dat' for i in range(n)]

    def write(self, i: int, path: Path) -> Any:
        return self.read(i, path)

    def read(self, i: int, path: Path) -> Any:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget every value (untimed, before each miss round)."""
        for entry in os.scandir(self.folder):
            os.unlink(entry.path)

    def runner(self, op: str) -> Callable[[], int]:
        fn, paths = getattr(self, op), self.paths

        def run() -> int:
            for i, path in enumerate(paths):
                fn(i, path)
            return len(paths)
        return run


class ContainerWork(FileWork):
    """hutch or zensols.persist: a new container reads ``x`` from its file."""

    def __init__(self, folder: Path, n: int, module: str) -> None:
        self.cls = _path_class(module)
        super().__init__(folder, n)

    def read(self, i: int, path: Path) -> Any:
        return self.cls(path).x


class JoblibWork(FileWork):
    """``joblib.Memory``: a cached call keyed by its argument."""

    def __init__(self, folder: Path, n: int) -> None:
        joblib = require('joblib', 'Memory')
        super().__init__(folder, n)

        def work(i: int) -> bytes:
            return _compute()
        self.call = joblib.Memory(str(folder), verbose=0).cache(work)

    def read(self, i: int, path: Path) -> Any:
        return self.call(i)

    def reset(self) -> None:
        self.call.clear(warn=False)


class FloorWork(FileWork):
    """The floor: ``open`` + ``pickle`` (+ ``os.replace`` for a write)."""

    def read(self, i: int, path: Path) -> Any:
        with open(path, 'rb', buffering=0) as f:
            return pickle.loads(f.read())

    def write(self, i: int, path: Path) -> Any:
        value = _compute()
        tmp = path.with_name(f'.{path.name}.tmp')
        with open(tmp, 'wb', buffering=0) as f:
            f.write(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
        return value


def _file_cases(cfg: Config) -> Iterator[Item]:
    n = cfg.sample
    root = cfg.workdir / 'persisted'
    shutil.rmtree(root, ignore_errors=True)
    makers: dict[str, Callable[[Path], FileWork]] = {
        HUTCH: lambda f: ContainerWork(f, n, 'hutch'),
        'zensols': lambda f: ContainerWork(f, n, 'zensols.persist'),
        'joblib': lambda f: JoblibWork(f, n),
        'floor:open-pickle': lambda f: FloorWork(f, n),
    }
    try:
        works: dict[str, FileWork] = {}
        for peer, make in makers.items():
            try:
                works[peer] = make(root / peer.replace(':', '-'))
            except NotAvailable as e:
                yield Note(AREA, 'file', f'{peer}: not available ({e})')
        yield Case(AREA, 'miss', 'compute+write', {'n': n},
                   [Contender(peer, w.runner('write'), prepare=w.reset)
                    for peer, w in works.items()], flush=True)
        for w in works.values():  # fill once; every round then reads
            w.reset()
            w.runner('write')()
        yield Case(AREA, 'file-hit', 'new-instance+read', {'n': n},
                   [Contender(peer, w.runner('read')) for peer, w in works.items()])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cases(cfg: Config) -> Iterator[Item]:
    yield from _hit_case(cfg)
    yield from _file_cases(cfg)
