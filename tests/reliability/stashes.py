"""What the reliability suites drive, in one place.

Every suite in this folder is parametrized over the registries below, so a
new stash joins all of them with one line here:

* :data:`MEMORY` -- in-memory and stacking stashes, for the model-based
  tests;
* :data:`DURABLE` -- stashes whose data lives in files, for every suite
  (model-based, crash, concurrency, hostile input, resources).

A registry entry builds its stash from a folder it owns (``home``), so a
test can reopen the same data in another process: the ``make`` functions
are module-level, hence picklable under every start method.

The amount of work the suites do scales with ``HUTCH_RELIABILITY_SCALE``
(default ``1``: a few seconds per stash on two cores; ``10`` for a long
soak).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hutch import (
    CacheStash,
    DictionaryStash,
    KeyLimitStash,
    LRUCacheStash,
    PrimablePreemptiveStash,
    ProtectiveStash,
    SortedStash,
    Stash,
)

SCALE = float(os.environ.get('HUTCH_RELIABILITY_SCALE', '1'))
"""How hard the suites push: multiplies kill counts, durations, examples."""


def scaled(n: int | float, least: int = 1) -> int:
    """``n`` times :data:`SCALE`, but at least ``least``."""
    return max(least, round(n * SCALE))


def scaled_seconds(seconds: float) -> float:
    """A duration times :data:`SCALE`."""
    return seconds * SCALE


@dataclass(frozen=True)
class Kind:
    """One stash the suites drive, and what they may expect of it.

    :param name: the test id
    :param make: builds the stash over the data in ``home`` (a folder the
        test owns; the stash keeps its data inside ``home / 'data'``)
    :param durable: the data outlives the object: a stash made again by
        ``make`` over the same ``home`` (in this or another process) sees it
    :param key_file: for stashes with one file per key, the file a key
        lives in (for the corruption tests)
    :param str_keys_only: keys other than ``str`` raise ``TypeError``
    :param processes: safe to use from several processes at once
    :param owns_folder: every file in the data folder is the stash's, so
        after ``clear()`` the folder is empty
    """

    name: str
    make: Callable[[Path], Stash]
    durable: bool = False
    key_file: Optional[Callable[[Stash, str], Path]] = None
    str_keys_only: bool = False
    processes: bool = False
    owns_folder: bool = False

    def __str__(self) -> str:
        return self.name

    def data_dir(self, home: Path) -> Path:
        """The folder that holds all of this stash's files."""
        return home / 'data'


def _dictionary(home: Path) -> Stash:
    return DictionaryStash()


def _lru(home: Path) -> Stash:
    return LRUCacheStash(maxsize=100_000)


def _cache_over_dict(home: Path) -> Stash:
    return CacheStash(DictionaryStash())


def _cache_over_lru(home: Path) -> Stash:
    # a tiny cache: most reads miss it and go to the delegate
    return CacheStash(DictionaryStash(), cache_stash=LRUCacheStash(2))


def _sorted_over_dict(home: Path) -> Stash:
    return SortedStash(DictionaryStash())


def _key_limit_over_dict(home: Path) -> Stash:
    return KeyLimitStash(DictionaryStash(), limit=100_000)


def _protective_over_dict(home: Path) -> Stash:
    return ProtectiveStash(DictionaryStash(), log_errors=False)


def _preemptive_over_dict(home: Path) -> Stash:
    return PrimablePreemptiveStash(DictionaryStash())


MEMORY: list[Kind] = [
    Kind('DictionaryStash', _dictionary),
    Kind('LRUCacheStash', _lru),
    Kind('CacheStash', _cache_over_dict),
    Kind('CacheStash-LRU2', _cache_over_lru),
    Kind('SortedStash', _sorted_over_dict),
    Kind('KeyLimitStash', _key_limit_over_dict),
    Kind('ProtectiveStash', _protective_over_dict),
    Kind('PrimablePreemptiveStash', _preemptive_over_dict),
]
"""In-memory stashes that must behave exactly like a ``dict``."""


def _directory(home: Path) -> Stash:
    from hutch.stash.directory import DirectoryStash
    return DirectoryStash(home / 'data')


def _directory_json(home: Path) -> Stash:
    from hutch.stash.directory import DirectoryStash
    return DirectoryStash(home / 'data', serializer='json')


def _directory_sharded(home: Path) -> Stash:
    from hutch.stash.directory import DirectoryStash
    return DirectoryStash(home / 'data', shard=4)


def _directory_key_file(stash: Stash, key: str) -> Path:
    return stash.key_to_path(key)  # type: ignore[attr-defined,no-any-return]


def _sqlite(home: Path) -> Stash:
    from hutch.stash.sqlite import SqliteStash
    return SqliteStash(home / 'data' / 'stash.sqlite3')


def _shelve(home: Path) -> Stash:
    from hutch.stash.shelve import ShelveStash
    return ShelveStash(home / 'data' / 'shelf')


DURABLE: list[Kind] = [
    Kind('DirectoryStash', _directory, durable=True, str_keys_only=True,
         processes=True, owns_folder=True, key_file=_directory_key_file),
    Kind('DirectoryStash-json', _directory_json, durable=True,
         str_keys_only=True, processes=True, owns_folder=True,
         key_file=_directory_key_file),
    Kind('DirectoryStash-shard4', _directory_sharded, durable=True,
         str_keys_only=True, processes=True, owns_folder=True,
         key_file=_directory_key_file),
    Kind('SqliteStash', _sqlite, durable=True, str_keys_only=True,
         processes=True),
    Kind('ShelveStash', _shelve, durable=True, str_keys_only=True,
         processes=True, owns_folder=True),
]
"""Stashes whose data lives in files under ``home / 'data'``."""


def stacked_over(base: Kind) -> list[Kind]:
    """The stacking stashes over a durable ``base``, as kinds of their own."""

    return [
        Kind(f'CacheStash-over-{base.name}', _Stacked(base, 'cache'),
             durable=base.durable, str_keys_only=base.str_keys_only),
        Kind(f'SortedStash-over-{base.name}', _Stacked(base, 'sorted'),
             durable=base.durable, str_keys_only=base.str_keys_only),
        Kind(f'KeyLimitStash-over-{base.name}', _Stacked(base, 'limit'),
             durable=base.durable, str_keys_only=base.str_keys_only),
    ]


@dataclass(frozen=True)
class _Stacked:
    """A picklable ``make`` that stacks a framework stash over a base kind."""

    base: Kind
    how: str

    def __call__(self, home: Path) -> Stash:
        delegate = self.base.make(home)
        if self.how == 'cache':
            return CacheStash(delegate)
        if self.how == 'sorted':
            return SortedStash(delegate)
        return KeyLimitStash(delegate, limit=100_000)


def model_kinds() -> list[Kind]:
    """Every stash the model-based tests drive against a ``dict``."""
    kinds = list(MEMORY) + list(DURABLE)
    for base in DURABLE:
        kinds.extend(stacked_over(base))
    return kinds


# -- values whose integrity can be checked ----------------------------------

def payload(seq: int, writer: int = 0, size: int = 4096) -> dict[str, Any]:
    """A value that says who wrote it and when, and proves it is whole.

    The ``blob`` is derived from ``seq`` and ``writer``, so a value mixed
    from two writes, or cut short, fails :func:`check_payload`.
    """
    unit = hashlib.sha1(f'{writer}:{seq}'.encode()).hexdigest()
    reps = size // len(unit) + 1
    return {'seq': seq, 'writer': writer, 'blob': (unit * reps)[:size]}


def check_payload(value: Any) -> tuple[int, int]:
    """``(writer, seq)`` of a whole :func:`payload`; ``AssertionError`` if torn."""
    assert isinstance(value, dict), f'not a payload: {value!r:.80}'
    assert set(value) == {'seq', 'writer', 'blob'}, sorted(value)
    expect = payload(value['seq'], value['writer'], len(value['blob']))
    assert value['blob'] == expect['blob'], \
        f'torn value: writer {value["writer"]} seq {value["seq"]}'
    return value['writer'], value['seq']


# -- process resources -------------------------------------------------------

def open_fds() -> set[str]:
    """What this process's open file descriptors point at (``/proc``).

    Garbage is collected first, so pipes of earlier tests' finished
    processes, closed whenever the collector reaches them, don't show up in
    one snapshot and not the next.
    """
    gc.collect()
    found = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            found.add(f'{fd}->{os.readlink(f"/proc/self/fd/{fd}")}')
        except FileNotFoundError:
            pass  # the descriptor listdir itself used
    return found


def files_under(folder: Path) -> list[Path]:
    """Every file (not folder) below ``folder``, sorted."""
    return sorted(p for p in folder.rglob('*') if not p.is_dir())


def record(test: str, **figures: Any) -> None:
    """Append ``figures`` of a run to ``$HUTCH_RELIABILITY_REPORT`` (if set).

    ``docs/reliability.md`` quotes these numbers; the suites never assert on
    them.
    """
    report = os.environ.get('HUTCH_RELIABILITY_REPORT')
    if report:
        with open(report, 'a', encoding='utf-8') as f:
            f.write(json.dumps({'test': test, 'scale': SCALE, **figures}) +
                    '\n')
