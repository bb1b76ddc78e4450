"""The stash operations every durable store is timed on, at every size.

Each peer is wrapped in an :class:`Adapter` that maps the six operations
(dump, load, exists, keys, len, iteration) onto the peer's own calls, so a
workload is written once and run against hutch, its peers and the floors.

:func:`stash_cases` fills every adapter with the same ``n`` items, then
yields one case per operation:

* ``dump``, ``load``, ``exists`` touch the same random sample of existing
  keys in every contender (``dump`` overwrites part of it: the steady state
  of a store that is refreshed), and are reported per operation; ``insert``
  dumps as many keys the store has never seen, once a round, and runs last
  (the store grows by that much each round);
* ``keys``, ``len`` and ``iter`` are whole-store calls, judged per item in
  the growth table.
"""

from __future__ import annotations

import itertools
import random
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .harness import HUTCH, Case, Config, Contender, Item, NotAvailable, Note

#: in this order: the reads first, then dump, then insert (which grows the
#: store, so nothing after it would see ``n`` items)
OPS = ('load', 'exists', 'keys', 'len', 'iter', 'dump', 'insert')
WHOLE_STORE_OPS = frozenset(('keys', 'len', 'iter'))


class Adapter(ABC):
    """One store behind the calls the stash workloads time."""

    @abstractmethod
    def dump(self, key: str, value: Any) -> None: ...

    @abstractmethod
    def load(self, key: str) -> Any: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def keys(self) -> Iterable[str]: ...

    def length(self) -> int:
        return sum(1 for _ in self.keys())

    def items(self) -> Iterable[tuple[str, Any]]:
        return ((k, self.load(k)) for k in self.keys())

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        """Store ``items`` (untimed set-up); a store may batch this."""
        for key, value in items:
            self.dump(key, value)

    def close(self) -> None:  # noqa: B027 (most stores hold nothing open)
        """Release what the store holds open."""


class StashAdapter(Adapter):
    """Any object with the stash API (hutch's, zensols.persist's)."""

    def __init__(self, stash: Any) -> None:
        self.stash = stash

    def dump(self, key: str, value: Any) -> None:
        self.stash.dump(key, value)

    def load(self, key: str) -> Any:
        return self.stash.load(key)

    def exists(self, key: str) -> bool:
        return bool(self.stash.exists(key))

    def keys(self) -> Iterable[str]:
        return self.stash.keys()  # type: ignore[no-any-return]

    def length(self) -> int:
        return len(self.stash)

    def items(self) -> Iterable[tuple[str, Any]]:
        return iter(self.stash)  # type: ignore[no-any-return]

    def close(self) -> None:
        close = getattr(self.stash, 'close', None)
        if close is not None:
            close()


#: a builder makes a fresh, empty store in the folder it is given
Builder = Callable[[Path], Adapter]


def key_of(i: int) -> str:
    return f'key{i:07d}'


def value_of(size: int) -> bytes:
    """A value whose pickle is about ``size`` bytes (the same for every peer)."""
    return random.Random(size).randbytes(max(size - 16, 1))


def _op_runner(adapter: Adapter, op: str, sample: list[str],
               value: Any) -> Callable[[], int]:
    if op == 'dump':
        def run() -> int:
            dump = adapter.dump
            for k in sample:
                dump(k, value)
            return len(sample)
    elif op == 'insert':
        fresh = itertools.count()

        def run() -> int:
            dump, batch = adapter.dump, next(fresh)
            for k in sample:
                dump(f'{k}-new{batch}', value)
            return len(sample)
    elif op == 'load':
        def run() -> int:
            load = adapter.load
            for k in sample:
                if load(k) is None:
                    raise AssertionError(f'{k} missing from {adapter}')
            return len(sample)
    elif op == 'exists':
        def run() -> int:
            exists = adapter.exists
            for k in sample:
                if not exists(k):
                    raise AssertionError(f'{k} missing from {adapter}')
            return len(sample)
    elif op == 'keys':
        def run() -> int:
            for _ in adapter.keys():
                pass
            return 1
    elif op == 'len':
        def run() -> int:
            adapter.length()
            return 1
    elif op == 'iter':
        def run() -> int:
            for _ in adapter.items():
                pass
            return 1
    else:
        raise ValueError(f'unknown op: {op}')
    return run


def stash_cases(cfg: Config, area: str, workload: str, builders: Mapping[str, Builder],
                n: int, value_bytes: int, ops: Iterable[str] = OPS,
                sample: int | None = None) -> Iterator[Item]:
    """Fill each builder's store with ``n`` items; yield a case per op.

    A builder that raises :class:`NotAvailable` is left out with a note; if
    hutch's own is missing the workload is skipped unless the run allows it.
    ``sample`` overrides how many keys per-item operations touch a round.
    The stores' folders are removed when the generator finishes.
    """
    params = {'n': n, 'value': value_bytes}
    root = cfg.workdir / f'{area}-{workload}-{n}-{value_bytes}'
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    adapters: dict[str, Adapter] = {}
    try:
        for peer, build in builders.items():
            try:
                adapters[peer] = build(root / peer.replace(':', '-'))
            except NotAvailable as e:
                if peer == HUTCH:
                    raise  # hutch itself is always measured
                yield Note(area, workload, f'{peer} not measured: {e}')
        if len(adapters) < 2:
            yield Note(area, workload, f'skipped at n={n}: fewer than two contenders')
            return
        value = value_of(value_bytes)
        for adapter in adapters.values():
            adapter.fill((key_of(i), value) for i in range(n))
        rng = random.Random(n)
        size = min(cfg.sample if sample is None else sample, n)
        keys = [key_of(i) for i in rng.sample(range(n), size)]
        written = keys[:min(size, cfg.write_sample)]
        for op in ops:
            touched = written if op in ('dump', 'insert') else keys
            contenders = [Contender(peer, _op_runner(a, op, touched, value))
                          for peer, a in adapters.items()]
            whole = op in WHOLE_STORE_OPS
            yield Case(area, workload, op, params, contenders,
                       unit='call' if whole else 'op', per_item=whole,
                       flush=op in ('dump', 'insert'), repeatable=op != 'insert')
    finally:
        for adapter in adapters.values():
            adapter.close()
        shutil.rmtree(root, ignore_errors=True)


def sizes_cases(cfg: Config, area: str, builders: dict[str, Builder],
                counts: Iterable[int] | None = None) -> Iterator[Item]:
    """The growth sweep (``cfg.counts`` at ``cfg.value_bytes``) and the
    value-size sweep (``cfg.value_sizes``) for one area's builders."""
    for n in counts if counts is not None else cfg.counts:
        yield from stash_cases(cfg, area, 'growth', builders, n, cfg.value_bytes)
    for size, n in cfg.value_sizes:
        yield from stash_cases(cfg, area, 'value-size', builders, n, size,
                               ops=('dump', 'load'))


def unavailable(reason: str) -> Builder:
    """A builder for a peer that cannot run here."""
    def build(path: Path) -> Adapter:
        raise NotAvailable(reason)
    return build
