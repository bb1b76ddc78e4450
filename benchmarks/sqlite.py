"""SqliteStash against diskcache, sqlitedict and a hand-written sqlite3 loop.

Every store commits each write (no batching that one peer gets and another
doesn't): ``diskcache.Cache`` always does, ``SqliteDict`` runs with
``autocommit=True``, and the floor ``raw-sqlite3`` is the least a SQLite store can do:
an upsert and a select on one table, WAL, ``synchronous=NORMAL``, values
pickled at the highest protocol.  Only hutch's store also runs at 1,000,000
items in the full run.

Each round reads the same sample of keys and nothing commits between
reads, so hutch answers every read after the first round from the rows it
kept (see ``SqliteStash(read_cache=...)``); ``hutch:no-read-cache`` is the
same store with that off, querying SQLite on every read as every peer does.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .harness import HUTCH, NO_READ_CACHE, Config, Item, require
from .stashops import Adapter, Builder, StashAdapter, sizes_cases, stash_cases

AREA = 'sqlite'

_UPSERT = ('INSERT INTO stash (key, value) VALUES (?, ?) '
           'ON CONFLICT (key) DO UPDATE SET value = excluded.value')


class RawSqlite(Adapter):
    """The floor: one table, an upsert per write, a select per read."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(path / 'raw.sqlite3', isolation_level=None)
        self.con.execute('PRAGMA journal_mode=WAL')
        self.con.execute('PRAGMA synchronous=NORMAL')
        self.con.execute('CREATE TABLE IF NOT EXISTS stash '
                         '(key TEXT PRIMARY KEY, value BLOB NOT NULL)')

    def dump(self, key: str, value: Any) -> None:
        self.con.execute(_UPSERT, (key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL)))

    def load(self, key: str) -> Any:
        row = self.con.execute('SELECT value FROM stash WHERE key = ?',
                               (key,)).fetchone()
        return None if row is None else pickle.loads(row[0])

    def exists(self, key: str) -> bool:
        return self.con.execute('SELECT 1 FROM stash WHERE key = ?',
                                (key,)).fetchone() is not None

    def keys(self) -> Iterable[str]:
        return [r[0] for r in self.con.execute('SELECT key FROM stash')]

    def length(self) -> int:
        return int(self.con.execute('SELECT COUNT(*) FROM stash').fetchone()[0])

    def items(self) -> Iterable[tuple[str, Any]]:
        return ((k, pickle.loads(v))
                for k, v in self.con.execute('SELECT key, value FROM stash'))

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        with self.con:
            self.con.execute('BEGIN')
            self.con.executemany(
                _UPSERT, ((k, pickle.dumps(v, pickle.HIGHEST_PROTOCOL))
                          for k, v in items))

    def close(self) -> None:
        self.con.close()


class DiskCache(Adapter):
    """``diskcache.Cache``: the best-known SQLite-backed store."""

    def __init__(self, path: Path) -> None:
        diskcache = require('diskcache', 'Cache')
        # no eviction: every peer keeps every item
        self.cache = diskcache.Cache(str(path), eviction_policy='none',
                                     size_limit=2**40)

    def dump(self, key: str, value: Any) -> None:
        self.cache.set(key, value)

    def load(self, key: str) -> Any:
        return self.cache.get(key)

    def exists(self, key: str) -> bool:
        return key in self.cache

    def keys(self) -> Iterable[str]:
        return self.cache.iterkeys()  # type: ignore[no-any-return]

    def length(self) -> int:
        return len(self.cache)

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        with self.cache.transact():
            for key, value in items:
                self.cache.set(key, value)

    def close(self) -> None:
        self.cache.close()


class SqliteDictStore(Adapter):
    """``sqlitedict.SqliteDict`` with ``autocommit=True``."""

    def __init__(self, path: Path) -> None:
        sqlitedict = require('sqlitedict', 'SqliteDict')
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlitedict.SqliteDict(str(path / 'sd.sqlite'), autocommit=True)

    def dump(self, key: str, value: Any) -> None:
        self.db[key] = value

    def load(self, key: str) -> Any:
        return self.db.get(key)

    def exists(self, key: str) -> bool:
        return key in self.db

    def keys(self) -> Iterable[str]:
        return self.db.keys()  # type: ignore[no-any-return]

    def length(self) -> int:
        return len(self.db)

    def items(self) -> Iterable[tuple[str, Any]]:
        return self.db.items()  # type: ignore[no-any-return]

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        self.db.autocommit = False
        for key, value in items:
            self.db[key] = value
        self.db.commit()
        self.db.autocommit = True

    def close(self) -> None:
        self.db.close()


class HutchSqlite(StashAdapter):
    options: dict[str, Any] = {}

    def __init__(self, path: Path) -> None:
        hutch = require('hutch', 'SqliteStash')
        path.mkdir(parents=True, exist_ok=True)
        super().__init__(hutch.SqliteStash(path / 'hutch.sqlite3',
                                           **self.options))

    def fill(self, items: Iterable[tuple[str, Any]]) -> None:
        dump_many = getattr(self.stash, 'dump_many', None)
        if dump_many is None:
            super().fill(items)
        else:
            dump_many(items)


class HutchSqliteQuerying(HutchSqlite):
    """hutch's store with no rows kept: a query on every read."""

    options = {'read_cache': 0}


BUILDERS: dict[str, Builder] = {
    HUTCH: HutchSqlite,
    NO_READ_CACHE: HutchSqliteQuerying,
    'diskcache': DiskCache,
    'sqlitedict': SqliteDictStore,
    'floor:raw-sqlite3': RawSqlite,
}


def cases(cfg: Config) -> Iterator[Item]:
    yield from sizes_cases(cfg, AREA, BUILDERS)
    big = {HUTCH: HutchSqlite, NO_READ_CACHE: HutchSqliteQuerying,
           'floor:raw-sqlite3': RawSqlite}
    for n in cfg.sqlite_counts:
        yield from stash_cases(cfg, AREA, 'growth', big, n, cfg.value_bytes,
                               ops=('dump', 'insert', 'load', 'exists', 'keys', 'len'))
