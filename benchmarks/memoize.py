"""``@memoize``: the cost of a hit and of a miss, against the memoizers people use.

Every contender memoizes the same function of one ``int`` argument that
returns a ~300-byte value, each in its own store on the same disk:

* hutch: ``@hutch.memoize(SqliteStash(...))``, and ``hutch:bounded`` the
  same over a ``SqliteStash(max_items=...)`` large enough never to evict
  (so a hit costs what bookkeeping of use costs, nothing more);
  ``hutch:no-read-cache`` over a ``SqliteStash(read_cache=0)``, which
  queries SQLite on every hit instead of answering a repeated one from the
  rows it kept since the last commit;
* ``diskcache``: ``Cache(...).memoize()`` (no eviction, as hutch's);
* ``joblib``: ``Memory(...).cache`` (one folder per call);
* ``floor:call+write`` (misses only): calling the plain function and
  writing its result with ``SqliteStash.dump`` under a key as long as
  hutch's (a memoizer's key names the function as well as the arguments,
  and a longer key costs a write more), what a miss cannot avoid;
* ``floor:read`` (hits only): what a hit that queries SQLite cannot avoid,
  by hand with :mod:`sqlite3`: the key's text, one autocommit select of the
  row (WAL, as hutch's) and one unpickling of an entry shaped as hutch's.
  No memoizer that queries its store on every hit is faster; hutch's
  default is, because a repeated hit with no commit since needs no query.

``hit``: every call of a round finds its result (the stores are filled
once, untimed).  ``miss``: every call of a round computes and stores; each
round starts from emptied stores.
"""

from __future__ import annotations

import pickle
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .harness import (
    HUTCH,
    NO_READ_CACHE,
    Case,
    Config,
    Contender,
    Item,
    NotAvailable,
    Note,
    require,
)
from .stashops import value_of

AREA = 'memoize'
VALUE_BYTES = 300
BOUNDED = 'hutch:bounded'
FLOOR = 'floor:call+write'
READ_FLOOR = 'floor:read'


def _work(i: int) -> bytes:
    return value_of(VALUE_BYTES)


class Memoizer:
    """One peer's memoized ``_work`` and how to empty its store."""

    def __init__(self, call: Callable[[int], Any],
                 clear: Callable[[], None]) -> None:
        self.call = call
        self.clear = clear

    def runner(self, n: int) -> Callable[[], int]:
        call = self.call

        def run() -> int:
            for i in range(n):
                call(i)
            return n
        return run


def _hutch(folder: Path, n: int, **options: Any) -> Memoizer:
    hutch = require('hutch', 'memoize', 'SqliteStash')
    stash = hutch.SqliteStash(folder / 'memo.sqlite3', **options)
    call = hutch.memoize(stash)(_work)
    return Memoizer(call, stash.clear)


def _diskcache(folder: Path, n: int) -> Memoizer:
    diskcache = require('diskcache', 'Cache')
    cache = diskcache.Cache(str(folder), eviction_policy='none',
                            size_limit=2**40)
    return Memoizer(cache.memoize()(_work), cache.clear)


def _joblib(folder: Path, n: int) -> Memoizer:
    joblib = require('joblib', 'Memory')
    call = joblib.Memory(str(folder), verbose=0).cache(_work)
    return Memoizer(call, lambda: call.clear(warn=False))


#: the memoized function's name, as hutch's keys and entries hold it
_NAME = f'{_work.__module__}.{_work.__qualname__}'
#: what the floors' keys start with: as long as hutch's keys of ``_work``
#: (its name and a 16-digit code digest), so that the floors store and look
#: up keys of the same length
_FLOOR_PREFIX = f'memo:{_NAME}:{"0" * 16}:'


def _floor(folder: Path, n: int) -> Memoizer:
    hutch = require('hutch', 'SqliteStash')
    stash = hutch.SqliteStash(folder / 'floor.sqlite3')
    dump = stash.dump

    def call(i: int) -> bytes:
        value = _work(i)
        dump(f'{_FLOOR_PREFIX}({i!r},)', value)
        return value
    return Memoizer(call, stash.clear)


def _read_floor(folder: Path, n: int) -> Memoizer:
    con = sqlite3.connect(folder / 'floor.sqlite3', isolation_level=None)
    con.execute('PRAGMA journal_mode=WAL')
    con.execute('PRAGMA synchronous=NORMAL')
    con.execute('CREATE TABLE IF NOT EXISTS memo '
                '(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)')
    cursor = con.cursor()
    select = 'SELECT value FROM memo WHERE key = ?'
    insert = 'INSERT INTO memo (key, value) VALUES (?, ?)'

    def call(i: int) -> Any:
        key = f'{_FLOOR_PREFIX}({i!r},)'
        row = cursor.execute(select, (key,)).fetchone()
        if row is not None:
            return pickle.loads(row[0])[6]
        value = _work(i)  # a miss, only when the store is filled
        entry = ('hutch.memo/1', _NAME, f'({i!r})', 0.0, 0.0, '0' * 16, value)
        cursor.execute(insert, (key, pickle.dumps(entry, pickle.HIGHEST_PROTOCOL)))
        return value
    def clear() -> None:
        con.execute('DELETE FROM memo')
    return Memoizer(call, clear)


def cases(cfg: Config) -> Iterator[Item]:
    n = cfg.sample
    root = cfg.workdir / 'memoize'
    shutil.rmtree(root, ignore_errors=True)
    makers: dict[str, Callable[[Path, int], Memoizer]] = {
        HUTCH: _hutch,
        BOUNDED: lambda f, n: _hutch(f, n, max_items=100 * n),
        NO_READ_CACHE: lambda f, n: _hutch(f, n, read_cache=0),
        'diskcache': _diskcache,
        'joblib': _joblib,
        FLOOR: _floor,
    }
    try:
        peers: dict[str, Memoizer] = {}
        for peer, make in makers.items():
            folder = root / peer.replace(':', '-').replace('+', '-')
            folder.mkdir(parents=True)
            try:
                peers[peer] = make(folder, n)
            except NotAvailable as e:
                yield Note(AREA, 'memoize', f'{peer}: not available ({e})')
        yield Case(AREA, 'miss', 'compute+store', {'n': n},
                   [Contender(peer, m.runner(n), prepare=m.clear)
                    for peer, m in peers.items()],
                   unit='call', flush=True, repeatable=False)
        hitters = {p: m for p, m in peers.items() if p != FLOOR}
        folder = root / 'floor-read'
        folder.mkdir()
        hitters[READ_FLOOR] = _read_floor(folder, n)
        for m in hitters.values():  # fill once; every round then hits
            m.clear()
            m.runner(n)()
        yield Case(AREA, 'hit', 'call', {'n': n},
                   [Contender(peer, m.runner(n)) for peer, m in hitters.items()],
                   unit='call')
    finally:
        shutil.rmtree(root, ignore_errors=True)
