"""The performance targets hutch holds itself to, judged on results.

Every target is a ratio of two contenders' figures in one case, so both
sides always come from the same run, alternating on the same machine (or,
for a cost that must not grow with size, one contender's time against a
fixed bound).  A target whose case was not measured (a part not built yet, a
peer not installed) is reported as ``n/a``, never as a pass.  Each names the
area of hutch it speaks for: persisted hits, small values, parallel work,
large values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .harness import HUTCH, CaseResult

#: the item count and value size the small-value targets are stated at
TARGET_PARAMS = {'n': 10_000, 'value': 300}


@dataclass(frozen=True)
class Target:
    """``time[num] / time[den]`` must be at most (or at least) ``bound``;
    with no ``den``, ``time[num]`` in milliseconds must."""

    name: str
    text: str
    area: str
    workload: str
    op: str
    num: str
    den: str
    bound: float
    at_most: bool
    #: the area of hutch the target speaks for
    topic: str
    params: tuple[tuple[str, Any], ...] = ()
    #: the same ratio for two other contenders of the case, to show what is
    #: reachable here (e.g. the floor against the peer)
    context: Optional[tuple[str, str]] = None

    def matches(self, result: CaseResult) -> bool:
        return ((result.area, result.workload, result.op)
                == (self.area, self.workload, self.op)
                and all(result.params.get(k) == v for k, v in self.params))

    @property
    def formula(self) -> str:
        sign = '<=' if self.at_most else '>='
        if not self.den:
            return f'{self.num} {sign} {self.bound:g} ms'
        return f'{self.num} / {self.den} {sign} {self.bound:g}'

    def judge(self, result: CaseResult) -> TargetResult:
        if self.den:
            ratio = result.ratio(self.num, self.den)
        else:
            peer = result.peers.get(self.num)
            ratio = None if peer is None else peer.median * 1e3
        context = None if self.context is None else result.ratio(*self.context)
        if ratio is None:
            return TargetResult(self, None, None, result.key())
        ok = ratio <= self.bound if self.at_most else ratio >= self.bound
        return TargetResult(self, ratio, ok, result.key(), context=context)


@dataclass
class TargetResult:
    target: Target
    ratio: Optional[float]
    passed: Optional[bool]
    case: str = ''
    profile: str = ''
    #: the target's :attr:`Target.context` ratio in the same case
    context: Optional[float] = None

    @property
    def context_text(self) -> str:
        """E.g. ``diskcache / floor:raw-sqlite3 = 1.31``, or ''."""
        if self.context is None or self.target.context is None:
            return ''
        num, den = self.target.context
        return f'{num} / {den} = {self.context:.2f}'

    @property
    def verdict(self) -> str:
        return 'n/a' if self.passed is None else 'PASS' if self.passed else 'MISS'

    def to_json(self) -> dict[str, Any]:
        return {'name': self.target.name, 'text': self.target.text,
                'formula': self.target.formula, 'area': self.target.topic,
                'ratio': self.ratio, 'verdict': self.verdict, 'case': self.case,
                'profile': self.profile, 'context': self.context_text}


_STASH = tuple(TARGET_PARAMS.items())
_RAW_SQLITE = 'floor:raw-sqlite3'
_RAW_FILES = 'floor:raw-files'
_INTO_DICT = (('into', 'dictionary'),)
_NUMPY = 'floor:numpy'
_100MB = (('mb', 100),)
_HITS, _SMALL, _PARALLEL, _LARGE = ('persisted hits', 'small values',
                                    'parallel work', 'large values')
_REMOTE = 'object storage'
_RAW_S3FS = 'floor:s3fs'

TARGETS: tuple[Target, ...] = (
    Target('persisted-hit-vs-lazy',
           '@persisted hit costs at most 2.5x a hand-written lazy property',
           'persisted', 'hit', 'read', HUTCH, 'lazy-property', 2.5, True, _HITS),
    Target('persisted-hit-vs-zensols',
           '@persisted hit at least 5x faster than zensols.persist',
           'persisted', 'hit', 'read', 'zensols', HUTCH, 5.0, False, _HITS,
           context=('zensols', 'lazy-property')),
    Target('memoize-hit-vs-diskcache',
           '@memoize hit on SqliteStash at least 3x faster than diskcache memoize',
           'memoize', 'hit', 'call', 'diskcache', HUTCH, 3.0, False,
           'memoized functions', context=('diskcache', 'floor:read')),
    Target('memoize-hit-vs-joblib',
           '@memoize hit on SqliteStash at least 20x faster than joblib.Memory',
           'memoize', 'hit', 'call', 'joblib', HUTCH, 20.0, False,
           'memoized functions', context=('joblib', 'floor:read')),
    Target('memoize-miss-vs-floor',
           '@memoize miss within 1.5x of calling the function plus a store write',
           'memoize', 'miss', 'compute+store', HUTCH, 'floor:call+write', 1.5,
           True, 'memoized functions'),
    Target('memoize-bounded-hit',
           '@memoize hit on a bounded SqliteStash at most 1.3x an unbounded one',
           'memoize', 'hit', 'call', 'hutch:bounded', HUTCH, 1.3, True,
           'memoized functions'),
    Target('directory-load',
           'DirectoryStash load at least 1.5x faster than zensols.persist',
           'directory', 'growth', 'load', 'zensols', HUTCH, 1.5, False, _SMALL, _STASH,
           ('zensols', _RAW_FILES)),
    Target('directory-keys',
           'DirectoryStash keys() at least 10x faster than zensols.persist',
           'directory', 'growth', 'keys', 'zensols', HUTCH, 10.0, False, _SMALL, _STASH,
           ('zensols', _RAW_FILES)),
    Target('directory-dump',
           'DirectoryStash dump at least 0.8x the speed of zensols.persist',
           'directory', 'growth', 'dump', 'zensols', HUTCH, 0.8, False, _SMALL, _STASH,
           ('zensols', _RAW_FILES)),
    # an autocommit select (the floor) is itself only 1.3-1.5x faster than
    # diskcache, so "2x faster than diskcache" is out of anyone's reach
    Target('sqlite-get-vs-diskcache',
           'SqliteStash get ahead of diskcache',
           'sqlite', 'growth', 'load', 'diskcache', HUTCH, 1.0, False, _SMALL, _STASH,
           ('diskcache', _RAW_SQLITE)),
    Target('sqlite-set-vs-diskcache',
           'SqliteStash set at least 2x faster than diskcache',
           'sqlite', 'growth', 'dump', 'diskcache', HUTCH, 2.0, False, _SMALL, _STASH,
           ('diskcache', _RAW_SQLITE)),
    Target('sqlite-get-vs-raw',
           'SqliteStash get within 1.1x of the raw sqlite3 floor',
           'sqlite', 'growth', 'load', HUTCH, _RAW_SQLITE, 1.1, True, _SMALL, _STASH),
    Target('sqlite-set-vs-raw',
           'SqliteStash set within 1.5x of raw sqlite3',
           'sqlite', 'growth', 'dump', HUTCH, _RAW_SQLITE, 1.5, True, _SMALL, _STASH),
    Target('shelve-load',
           'ShelveStash load no slower than zensols.persist (same options)',
           'shelve', 'defaults', 'load', 'zensols', HUTCH, 1.0, False, _SMALL),
    Target('shelve-dump',
           'ShelveStash dump no slower than zensols.persist (same options)',
           'shelve', 'defaults', 'dump', 'zensols', HUTCH, 1.0, False, _SMALL),
    Target('multi-speedup',
           'MultiProcessStash: at least 1.7x speedup on 2 workers',
           'multiprocess', 'speedup', 'build', 'serial-loop', HUTCH, 1.7, False,
           _PARALLEL, _INTO_DICT, ('serial-loop', 'Pool.map')),
    Target('multi-overhead',
           'MultiProcessStash: within 1.25x of Pool.map on the same work',
           'multiprocess', 'speedup', 'build', HUTCH, 'Pool.map', 1.25, True, _PARALLEL,
           _INTO_DICT),
    Target('large-load',
           'DirectoryStash loads a 100 MB array within 1.5x of np.load',
           'large', 'array', 'load', HUTCH, _NUMPY, 1.5, True, _LARGE, _100MB),
    Target('large-load-vs-zensols',
           'DirectoryStash loads a 100 MB array at least 3x faster than '
           'zensols.persist',
           'large', 'array', 'load', 'zensols', HUTCH, 3.0, False, _LARGE,
           _100MB, ('zensols', _NUMPY)),
    Target('large-dump',
           'DirectoryStash dumps a 100 MB array within 1.5x of np.save',
           'large', 'array', 'dump', HUTCH, _NUMPY, 1.5, True, _LARGE, _100MB),
    Target('large-sqlite-load',
           'SqliteStash loads a 100 MB array within 2x of np.load',
           'large', 'array', 'load', 'hutch-sqlite', _NUMPY, 2.0, True, _LARGE,
           _100MB),
    Target('large-sqlite-dump',
           'SqliteStash dumps a 100 MB array within 2x of np.save',
           'large', 'array', 'dump', 'hutch-sqlite', _NUMPY, 2.0, True, _LARGE,
           _100MB),
    Target('large-persisted-load',
           'PersistedWork reads a 100 MB array within 1.5x of np.load',
           'large', 'array', 'load', 'hutch-persisted', _NUMPY, 1.5, True,
           _LARGE, _100MB),
    Target('large-mmap-load',
           'a memory-mapped load of a 100 MB array takes at most 1 ms',
           'large', 'array', 'mmap-load', HUTCH, '', 1.0, True, _LARGE, _100MB,
           (HUTCH, _NUMPY)),
    Target('large-mmap-load-1gb',
           'a memory-mapped load of a 1 GB array takes at most 1 ms',
           'large', 'array', 'mmap-load', HUTCH, '', 1.0, True, _LARGE,
           (('mb', 1024),), (HUTCH, _NUMPY)),
    Target('remote-load-vs-s3fs',
           'DirectoryStash on S3 loads a small value within 1.2x of a raw '
           's3fs cat',
           'remote', 'per-key', 'load', HUTCH, _RAW_S3FS, 1.2, True, _REMOTE),
    Target('remote-dump-vs-s3fs',
           'DirectoryStash on S3 dumps a small value within 1.2x of a raw '
           's3fs pipe',
           'remote', 'per-key', 'dump', HUTCH, _RAW_S3FS, 1.2, True, _REMOTE),
    Target('remote-load-many',
           'load_many of 1,000 small values on S3 at least 5x faster than a '
           'per-key loop (20 ms round trips)',
           'remote', 'batch', 'load_many', 'hutch:per-key', HUTCH, 5.0, False,
           _REMOTE, (('rtt_ms', 20),)),
)


@dataclass
class Targets:
    """The targets' verdicts, filled in as cases are measured."""

    results: dict[str, TargetResult] = field(default_factory=dict)

    def judge(self, result: CaseResult) -> list[TargetResult]:
        """Judge every target ``result`` answers; return the new verdicts."""
        found = []
        for target in TARGETS:
            if target.matches(result):
                verdict = target.judge(result)
                self.results[target.name] = verdict
                found.append(verdict)
        return found

    def all(self) -> list[TargetResult]:
        """Every target in declaration order, ``n/a`` where unmeasured."""
        return [self.results.get(t.name, TargetResult(t, None, None))
                for t in TARGETS]
