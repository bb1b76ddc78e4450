"""MultiProcessFactoryStash: speedup over a serial loop, overhead against Pool.map.

* ``speedup``: ``mp_items`` CPU-bound items of about ``mp_item_seconds``
  each (a pure-Python loop calibrated on this machine), built into a
  ``DictionaryStash`` by ``MultiProcessFactoryStash(..., workers=2).prime()``
  against the same items computed by a plain serial loop and by
  ``multiprocessing.Pool(2).map`` (chunks of the same size as hutch's) whose
  results the parent stores.  Pool start-up is inside the timing of both
  parallel contenders; the start method is the platform default.
* ``overhead``: the same with items that cost nothing, so only the
  machinery is timed.
* ``speedup`` into a ``DirectoryStash`` (full run only): hutch's workers
  write straight into the shareable delegate; Pool.map's results come back
  for the parent to write.
"""

from __future__ import annotations

import math
import multiprocessing
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

from hutch import DictionaryStash, ReadOnlyStash, Stash

from .harness import HUTCH, Case, Config, Contender, Item, require

AREA = 'multiprocess'
PROFILE_NOTE = ("cProfile sees the parent, which mostly waits for its workers; "
                "for the workers' side run `py-spy record --subprocesses -- "
                "python -m benchmarks --only multiprocess`.")


def burn(iterations: int) -> int:
    """Pure-Python CPU work: ``iterations`` turns of a small loop."""
    acc = 0
    for i in range(iterations):
        acc = (acc + i * i) % 1_000_003
    return acc


def calibrate(seconds: float) -> int:
    """How many :func:`burn` iterations take about ``seconds`` here."""
    if seconds <= 0:
        return 0
    probe = 20_000
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        burn(probe)
        best = min(best, time.perf_counter() - start)
    return max(1, int(probe * seconds / best))


class BusyFactory(ReadOnlyStash):
    """Creates item ``key`` by burning CPU; its keys are the work items."""

    def __init__(self, n: int, iterations: int) -> None:
        super().__init__()
        self.n = n
        self.iterations = iterations

    def load(self, name: str) -> Any:
        return (name, burn(self.iterations))

    def keys(self) -> Iterable[str]:
        return [str(i) for i in range(self.n)]

    def exists(self, name: str) -> bool:
        return name.isdigit() and int(name) < self.n


class _Item:
    """A picklable callable for ``Pool.map``: the factory's work for one key."""

    def __init__(self, factory: BusyFactory) -> None:
        self.factory = factory

    def __call__(self, key: str) -> tuple[str, Any]:
        return key, self.factory.load(key)


def _multi_class() -> Any:
    return require('hutch', 'MultiProcessFactoryStash').MultiProcessFactoryStash


class Run:
    """One contender's rounds: each builds every item into a fresh, empty
    delegate (a ``DictionaryStash``, or a ``DirectoryStash`` in ``folder``)."""

    def __init__(self, factory: BusyFactory, workers: int,
                 folder: Optional[Path] = None) -> None:
        self.factory = factory
        self.workers = workers
        self.folder = folder
        self.delegate: Stash = DictionaryStash()

    def prepare(self) -> None:
        if self.folder is None:
            self.delegate = DictionaryStash()
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            self.delegate = require('hutch', 'DirectoryStash').DirectoryStash(
                self.folder)

    def check(self) -> int:
        if len(self.delegate) != self.factory.n:
            raise AssertionError(
                f'{type(self).__name__} built {len(self.delegate)} of {self.factory.n}')
        return self.factory.n

    def serial(self) -> int:
        for key in self.factory.keys():
            self.delegate.dump(key, self.factory.load(key))
        return self.check()

    def pool_map(self) -> int:
        keys = list(self.factory.keys())
        chunk = math.ceil(len(keys) / self.workers)
        with multiprocessing.Pool(self.workers) as pool:
            for key, value in pool.map(_Item(self.factory), keys, chunksize=chunk):
                self.delegate.dump(key, value)
        return self.check()

    def hutch(self) -> int:
        cls = _multi_class()
        stash = cls(self.delegate, self.factory, chunk_size=0, workers=self.workers,
                    progress=False)
        stash.prime()
        return self.check()


def _case(cfg: Config, workload: str, n: int, iterations: int,
          into: str = 'dictionary') -> Case:
    factory = BusyFactory(n, iterations)
    runs = {peer: Run(factory, cfg.mp_workers,
                      None if into == 'dictionary'
                      else cfg.workdir / 'multiprocess' / peer.replace('.', '-'))
            for peer in (HUTCH, 'Pool.map', 'serial-loop')}
    contenders = [Contender(HUTCH, runs[HUTCH].hutch, runs[HUTCH].prepare),
                  Contender('serial-loop', runs['serial-loop'].serial,
                            runs['serial-loop'].prepare),
                  Contender('Pool.map', runs['Pool.map'].pool_map,
                            runs['Pool.map'].prepare)]
    params = {'items': n, 'item_ms': round(cfg.mp_item_seconds * 1000, 3)
              if iterations else 0, 'workers': cfg.mp_workers, 'into': into}
    return Case(AREA, workload, 'build', params, contenders, unit='item',
                flush=into != 'dictionary', profile_note=PROFILE_NOTE)


def cases(cfg: Config) -> Iterator[Item]:
    iterations = calibrate(cfg.mp_item_seconds)
    yield _case(cfg, 'speedup', cfg.mp_items, iterations)
    yield _case(cfg, 'overhead', cfg.mp_items * 5, 0)
    if not cfg.quick:
        # workers write straight into a shareable delegate (hutch) or send
        # results back for the parent to write (Pool.map)
        try:
            yield _case(cfg, 'speedup', cfg.mp_items, iterations, 'directory')
        finally:
            shutil.rmtree(cfg.workdir / 'multiprocess', ignore_errors=True)
