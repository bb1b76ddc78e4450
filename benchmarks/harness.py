"""Timing machinery shared by every workload: warm-up, alternating rounds, medians.

A *case* is one operation measured for several *contenders* (hutch and its
peers) on the same data.  :func:`measure` runs every contender once untimed
(warm-up), then ``rounds`` timed rounds in which the contenders take turns,
the order rotating each round so that none always runs first (or last) on a
warm or cold machine.  A contender's figure is the median of its rounds, in
seconds per operation.  A case that flushes the file system before each
round (its rounds write) is timed over :func:`write_rounds` -- about twice
as many rounds: what a write waits for the disk (a checkpoint's ``fsync``, a
freed block) varies far more from round to round than any CPU work does.

Areas (``persisted``, ``directory`` ...) write generators that yield cases,
so that a stash filled for several operations is built once, measured for
each operation, and torn down when the generator finishes.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

#: the peer name hutch's own contender carries in every case
HUTCH = 'hutch'
#: hutch's SqliteStash with read_cache=0: a query on every read
NO_READ_CACHE = 'hutch:no-read-cache'


class NotAvailable(Exception):
    """A contender (or a whole workload) cannot run here; the reason says why."""


@dataclass
class Config:
    """The sizes and repetition counts of one run of the suite."""

    quick: bool
    workdir: Path
    rounds: int = 5
    warmup: int = 1
    #: a repeatable round shorter than this is repeated until it is not
    min_round: float = 0.1
    #: item counts of the stash growth sweep (values of ``value_bytes``)
    counts: tuple[int, ...] = (1_000, 10_000, 100_000)
    #: extra item counts for SqliteStash alone
    sqlite_counts: tuple[int, ...] = (1_000_000,)
    #: how many keys a per-item operation (load, exists) touches a round
    sample: int = 2_000
    #: ... and how many a dump rewrites (writes cost more than reads)
    write_sample: int = 1_000
    #: the value size of the growth sweep and the small-value targets (~300 B)
    value_bytes: int = 300
    #: (value size, item count) pairs of the value-size sweep
    value_sizes: tuple[tuple[int, int], ...] = (
        (100, 1_000), (10_000, 1_000), (1_000_000, 100))
    #: property accesses per round of the persisted-hit workloads
    hits: int = 200_000
    #: sizes in MB of the arrays of the large-values area, and the rows of
    #: its training batch
    large_mb: tuple[int, ...] = (1, 10, 100, 1024)
    batch_rows: int = 20_000
    #: items of the multiprocess workloads and the CPU time each costs
    mp_items: int = 400
    mp_item_seconds: float = 0.005
    mp_workers: int = 2
    #: areas to run (empty: all)
    only: tuple[str, ...] = ()

    @classmethod
    def for_mode(cls, quick: bool, workdir: Path, **overrides: Any) -> Config:
        """The full run's sizes, or the quick run's (under two minutes)."""
        if quick:
            base = cls(quick=True, workdir=workdir, rounds=3, min_round=0.03,
                       counts=(1_000, 10_000),
                       sqlite_counts=(), sample=300, write_sample=200,
                       value_sizes=((10_000, 100), (1_000_000, 10)),
                       hits=100_000, mp_items=100, large_mb=(1, 10, 100))
        else:
            base = cls(quick=False, workdir=workdir)
        for key, value in overrides.items():
            setattr(base, key, value)
        return base


@dataclass
class Contender:
    """One peer's way of doing a case's operation.

    ``run`` does one round of work and returns how many operations it did;
    ``prepare`` (optional) runs untimed before every round, e.g. to empty a
    folder a miss workload writes into.
    """

    peer: str
    run: Callable[[], int]
    prepare: Optional[Callable[[], None]] = None


@dataclass
class Case:
    """One operation on one data set, measured for several contenders."""

    area: str
    workload: str
    op: str
    params: dict[str, Any]
    contenders: list[Contender]
    #: what one "operation" is, for the report ("op", "call", "item" ...)
    unit: str = 'op'
    #: ops whose cost per call is expected to grow with the item count
    #: (keys, len, iteration) are timed per call but judged per item
    per_item: bool = False
    #: flush the file system (``os.sync``) before each round, so that no
    #: contender's writes are paid for by the next one's round (and time it
    #: over more rounds, see :func:`write_rounds`)
    flush: bool = False
    #: said with a profile of hutch's contender (e.g. what cProfile can't see)
    profile_note: str = ''
    #: whether a short round may be repeated within itself (not when each
    #: run leaves the data larger, as an insert of new keys does)
    repeatable: bool = True
    #: take the least of the rounds instead of their median: for copies of
    #: large values, which the noise of a shared machine only ever slows
    least: bool = False


@dataclass
class Note:
    """Something a run could not measure, and why."""

    area: str
    workload: str
    text: str


@dataclass
class PeerResult:
    """One contender's figures in one case."""

    peer: str
    median: float                # seconds per operation (the case's figure:
                                 # the least round when the case says so)
    rounds: list[float]          # seconds per operation, each round
    ops: int                     # operations per round

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds: how noisy this figure is."""
        if not self.median:
            return 0.0
        return (max(self.rounds) - min(self.rounds)) / self.median


@dataclass
class CaseResult:
    """The figures of one case: every peer's median, in seconds per op."""

    area: str
    workload: str
    op: str
    params: dict[str, Any]
    unit: str
    per_item: bool
    peers: dict[str, PeerResult] = field(default_factory=dict)
    #: how each peer's figure was taken from its rounds
    statistic: str = 'median'

    def key(self) -> str:
        """A readable identity, e.g. ``directory/stash[n=10000,value=300] load``."""
        args = ','.join(f'{k}={v}' for k, v in self.params.items())
        return f'{self.area}/{self.workload}[{args}] {self.op}'

    def ratio(self, slower: str, faster: str) -> Optional[float]:
        """``slower``'s time over ``faster``'s: how many times faster ``faster`` is."""
        a, b = self.peers.get(slower), self.peers.get(faster)
        if a is None or b is None or b.median == 0:
            return None
        return a.median / b.median


def _time_round(contender: Contender, repeat: int = 1,
                flush: bool = False) -> tuple[float, int]:
    if contender.prepare is not None:
        contender.prepare()
    if flush:
        os.sync()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        ops = 0
        start = time.perf_counter()
        for _ in range(repeat):
            ops += contender.run()
        elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    if ops <= 0:
        raise ValueError(f'{contender.peer} reported {ops} operations')
    return elapsed, ops


def write_rounds(rounds: int) -> int:
    """How many rounds a case whose rounds write is timed over when a run
    asks for ``rounds``: twice that less one, so that the median stays one
    round's own figure.

    >>> write_rounds(5), write_rounds(3)
    (9, 5)
    """
    return 2 * rounds - 1


def measure(case: Case, rounds: int, warmup: int = 1,
            min_round: float = 0.0) -> CaseResult:
    """Time ``case``: warm-up, then ``rounds`` alternating rounds; medians.

    In a repeatable case, a contender without ``prepare`` whose warm-up
    round took less than ``min_round`` seconds repeats its work within each
    timed round until a round lasts about that long, so that short
    operations are timed over enough work to rise above the clock and the
    noise.  Garbage collection
    is off while a round runs (as in :mod:`timeit`) and a full collection
    runs before each round, so no contender pays for another's garbage (nor,
    with ``case.flush``, for another's unwritten file data).

    >>> counter = {'n': 0}
    >>> def work() -> int:
    ...     counter['n'] += 1
    ...     return 10
    >>> case = Case('demo', 'count', 'tick', {}, [Contender('hutch', work),
    ...                                           Contender('peer', work)])
    >>> result = measure(case, rounds=3, warmup=1)
    >>> counter['n'], sorted(result.peers), len(result.peers['peer'].rounds)
    (8, ['hutch', 'peer'], 3)
    """
    repeats: dict[str, int] = {}
    for contender in case.contenders:
        elapsed = 0.0
        for _ in range(warmup):
            elapsed, _ops = _time_round(contender, flush=case.flush)
        repeat = 1
        if case.repeatable and contender.prepare is None and 0 < elapsed < min_round:
            repeat = min(10_000, math.ceil(min_round / elapsed))
        repeats[contender.peer] = repeat
    samples: dict[str, list[float]] = {c.peer: [] for c in case.contenders}
    ops_of: dict[str, int] = {}
    n = len(case.contenders)
    if case.flush:
        rounds = write_rounds(rounds)
    for r in range(rounds):
        for i in range(n):
            contender = case.contenders[(r + i) % n]
            elapsed, ops = _time_round(contender, repeats[contender.peer], case.flush)
            samples[contender.peer].append(elapsed / ops)
            ops_of[contender.peer] = ops
    result = CaseResult(case.area, case.workload, case.op, dict(case.params),
                        case.unit, case.per_item,
                        statistic='least' if case.least else 'median')
    for peer, values in samples.items():
        figure = min(values) if case.least else statistics.median(values)
        result.peers[peer] = PeerResult(peer, figure, values, ops_of[peer])
    return result


Item = Union[Case, Note]
#: what each area module offers: a function of the run's sizes yielding cases
Area = Callable[[Config], Iterator[Item]]


def require(module: str, *names: str) -> Any:
    """Import ``module`` and check it has ``names``, else :class:`NotAvailable`.

    >>> require('os', 'replace').__name__
    'os'
    >>> require('os', 'no_such_thing')
    Traceback (most recent call last):
    ...
    benchmarks.harness.NotAvailable: os.no_such_thing is not available
    """
    import importlib
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise NotAvailable(f'{module} is not installed ({e})') from e
    for name in names:
        if not hasattr(mod, name):
            raise NotAvailable(f'{module}.{name} is not available')
    return mod
