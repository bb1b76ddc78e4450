"""Hostile input: keys built to escape, names built to collide, files spoiled.

* Any ``str`` key -- unicode, ``/``, ``\\``, ``..``, NUL, ``%`` escapes,
  very long, a leading dot, Windows device names -- either round-trips
  through a durable stash (also after reopening it) or is refused with a
  clear ``ValueError``/``TypeError``; and whatever happens, no file appears
  outside the stash's data folder.  Distinct keys never share storage.
* A key that is not a ``str`` raises ``TypeError``.
* Corrupt, truncated and empty files raise :class:`~hutch.PersistableError`
  naming the key and the file.
* Wrong argument types fail at construction with ``TypeError`` /
  ``ValueError``.

Examples per stash: ``100 * HUTCH_RELIABILITY_SCALE`` keys and
``30 * HUTCH_RELIABILITY_SCALE`` key sets.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hutch import (
    CloseableStash,
    CorruptDataError,
    PersistableError,
    Stash,
)

from .stashes import DURABLE, Kind, files_under, record, scaled

RESERVED = ['', '.', '..', '...', ' ', '.hidden', '..hidden', 'trailing.',
            'trailing ', 'CON', 'con', 'NUL', 'nul.txt', 'AUX', 'PRN',
            'COM1', 'LPT9', 'CLOCK$', '%', '%2F', '%2E', '%-', '%~',
            '/', '//', '\\', '/etc/passwd', '../escape', '../../escape',
            'a/../../escape', '..\\escape', 'dir/', '~', '$HOME', '\x00',
            'a\x00b', '\n', '\t', '\x7f', 'é', 'e\u0301', '日本語', '🐹',
            '\ud800', '\udcff', 'x' * 255, 'x' * 256, 'é' * 200,
            '.' * 300, '/' * 300, 'x' * 5000,
            '.hutch-tmp', '.k.dat.1.0.hutch-tmp', 'k.dat', 'stash.sqlite3']
"""Keys that broke file-backed stores somewhere, once."""

TRICKY = st.text(alphabet='./\\\x00%~:*?"<>| -_aA1é\u0301\ud800',
                 max_size=12)
KEY = st.one_of(st.text(max_size=40), TRICKY, st.sampled_from(RESERVED),
                st.text(min_size=200, max_size=400),
                st.builds(lambda s: '.' + s, st.text(max_size=20)))

SETTINGS = settings(deadline=None, max_examples=scaled(100),
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def _close(stash: Stash) -> None:
    if isinstance(stash, CloseableStash):
        stash.close()


class _Sandbox:
    """A stash two folders down, so an escape by ``..`` shows up here."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self._tmp = tempfile.TemporaryDirectory(prefix='hutch-hostile-')
        self.outer = Path(self._tmp.name)
        self.home = self.outer / 'a' / 'home'
        self.home.mkdir(parents=True)
        self.stash = kind.make(self.home)

    def reopen(self) -> None:
        _close(self.stash)
        self.stash = self.kind.make(self.home)

    def escaped(self) -> list[Path]:
        data = self.kind.data_dir(self.home)
        return [p for p in files_under(self.outer) if data not in p.parents]

    def close(self) -> None:
        _close(self.stash)
        self._tmp.cleanup()


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_any_str_key_round_trips_or_is_refused_and_stays_inside(
        kind: Kind) -> None:
    box = _Sandbox(kind)
    tried = {'round-tripped': 0, 'refused': 0}

    @SETTINGS
    @given(key=KEY)
    @example(key='../../escape')
    @example(key='\x00')
    def check(key: str) -> None:
        stash = box.stash
        stash.clear()
        value = {'key': key}
        try:
            stash.dump(key, value)
        except (ValueError, TypeError):
            tried['refused'] += 1
            assert list(stash.keys()) == [], 'a refused key left an entry'
        else:
            tried['round-tripped'] += 1
            assert stash.load(key) == value
            assert stash.exists(key)
            assert list(stash.keys()) == [key]
            box.reopen()
            assert box.stash.load(key) == value
            assert list(box.stash.keys()) == [key]
            box.stash.delete(key)
            assert not box.stash.exists(key)
        assert box.escaped() == [], f'{key!r} wrote outside the stash'

    try:
        check()
    finally:
        box.close()
    record(f'hostile-keys-{kind}', **tried)


@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_distinct_keys_never_share_storage(kind: Kind) -> None:
    box = _Sandbox(kind)
    tried = 0

    @settings(SETTINGS, max_examples=scaled(30))
    @given(keys=st.lists(KEY, min_size=2, max_size=6, unique=True))
    @example(keys=['a/b', 'a%2Fb', 'a%252Fb'])
    @example(keys=['.x', '%2Ex', '%2ex'])
    @example(keys=['', '%-', ' '])
    @example(keys=['x' * 5000, 'x' * 5001, 'x' * 4999 + 'y'])
    @example(keys=['CON', '%43ON', 'con'])
    def check(keys: list[str]) -> None:
        nonlocal tried
        stash = box.stash
        stash.clear()
        stored = {}
        for i, key in enumerate(keys):
            try:
                stash.dump(key, i)
            except (ValueError, TypeError):
                continue
            stored[key] = i
        for key, i in stored.items():
            assert stash.load(key) == i, f'{key!r} lost to another key'
        assert sorted(stash.keys()) == sorted(stored)
        assert box.escaped() == []
        tried += 1

    try:
        check()
    finally:
        box.close()
    record(f'hostile-key-sets-{kind}', key_sets=tried)


@pytest.mark.parametrize('kind', [k for k in DURABLE if k.str_keys_only],
                         ids=str)
@pytest.mark.parametrize('key', [1, 1.5, b'bytes', None, ('t',), ['l']],
                         ids=repr)
def test_a_key_that_is_not_a_str_raises_type_error(
        kind: Kind, key: Any, tmp_path: Path) -> None:
    stash = kind.make(tmp_path)
    try:
        with pytest.raises(TypeError):
            stash.dump(key, 'value')
        with pytest.raises(TypeError):
            stash.load(key)
        assert list(stash.keys()) == []
    finally:
        _close(stash)


# -- spoiled files -----------------------------------------------------------

def _garbage(data: bytes) -> bytes:
    return b'\x80\x05\xff not a value \x00' + data[:8]


def _truncated(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _empty(data: bytes) -> bytes:
    return b''


SPOILERS: dict[str, Callable[[bytes], bytes]] = {
    'corrupt': _garbage, 'truncated': _truncated, 'empty': _empty}


@pytest.mark.parametrize('spoil', SPOILERS.values(), ids=SPOILERS.keys())
@pytest.mark.parametrize('kind', [k for k in DURABLE if k.key_file],
                         ids=str)
def test_a_spoiled_file_raises_persistable_error_naming_key_and_path(
        kind: Kind, spoil: Callable[[bytes], bytes], tmp_path: Path) -> None:
    stash = kind.make(tmp_path)
    try:
        stash.dump('victim', {'a': list(range(100))})
        assert kind.key_file is not None
        file = kind.key_file(stash, 'victim')
        file.write_bytes(spoil(file.read_bytes()))
        with pytest.raises(PersistableError) as info:
            stash.load('victim')
        assert info.value.key == 'victim'
        assert Path(os.fspath(info.value.path)) == file
        assert 'victim' in str(info.value) and str(file) in str(info.value)
    finally:
        _close(stash)


def test_a_spoiled_persisted_file_raises_naming_the_path(
        tmp_path: Path) -> None:
    from hutch.persisted import PersistedWork

    path = tmp_path / 'work.dat'
    for spoil in SPOILERS.values():
        path.write_bytes(spoil(b'\x80\x05\x95\x10\x00\x00\x00'))
        work = PersistedWork(path, object())
        work.worker = lambda: 'recomputed'
        with pytest.raises(CorruptDataError) as info:
            work()
        assert str(path) in str(info.value)


def test_a_spoiled_sqlite_file_raises_persistable_error_naming_it(
        tmp_path: Path) -> None:
    from hutch.stash.sqlite import SqliteStash

    path = tmp_path / 'stash.sqlite3'
    path.write_bytes(b'this is not a database' * 100)
    stash = SqliteStash(path)
    try:
        with pytest.raises(PersistableError) as info:
            stash.load('k')
        assert str(path) in str(info.value)
    finally:
        stash.close()


@pytest.mark.parametrize('spoil', [_garbage, _truncated],
                         ids=['corrupt', 'truncated'])
def test_a_spoiled_shelf_raises_persistable_error_naming_it(
        spoil: Callable[[bytes], bytes], tmp_path: Path) -> None:
    """(An emptied shelf is a valid empty shelf: nothing to tell.)"""
    from hutch.stash.shelve import ShelveStash

    stash = ShelveStash(tmp_path / 'shelf')
    stash.dump('victim', {'a': list(range(100))})
    for file in stash.files():
        file.write_bytes(spoil(file.read_bytes()))
    with pytest.raises(PersistableError) as info:
        stash.load('victim')
    assert str(tmp_path / 'shelf') in str(info.value)


# -- wrong arguments fail at construction -----------------------------------

def _bad_constructions(tmp: Path) -> dict[str, tuple[Callable[[], Any],
                                                      type[Exception]]]:
    """What to build, and the error it must raise, keyed by test id."""
    from hutch import (
        CacheStash,
        Compressed,
        DictionaryStash,
        FactoryStash,
        JsonSerializer,
        KeyLimitStash,
        LRUCacheStash,
        PickleSerializer,
        UnionStash,
        get_serializer,
    )
    from hutch._locks import FileLock

    d = DictionaryStash()
    cases: dict[str, tuple[Callable[[], Any], type[Exception]]] = {
        'lru-zero': (lambda: LRUCacheStash(0), ValueError),
        'lru-str': (lambda: LRUCacheStash('9'), TypeError),  # type: ignore
        'key-limit-float': (lambda: KeyLimitStash(d, 1.5), TypeError),  # type: ignore
        'file-lock-timeout-negative': (lambda: FileLock(tmp, timeout=-1),
                                    ValueError),
        'key-limit-negative': (lambda: KeyLimitStash(d, -1), ValueError),
        'factory-not-a-stash': (lambda: FactoryStash(d, {}), TypeError),  # type: ignore
        'cache-delegate-not-a-stash': (lambda: CacheStash({}), TypeError),  # type: ignore
        'cache-stash-not-a-stash': (lambda: CacheStash(d, {}), TypeError),  # type: ignore
        'union-member-not-a-stash': (lambda: UnionStash([d, 1]), TypeError),  # type: ignore
        'serializer-unknown': (lambda: get_serializer('yaml'), ValueError),
        'serializer-codec-unknown': (lambda: get_serializer('json+rar'),
                                     ValueError),
        'serializer-int': (lambda: get_serializer(3), TypeError),  # type: ignore
        'pickle-protocol-str': (lambda: PickleSerializer('5'), TypeError),  # type: ignore
        'compressed-inner': (lambda: Compressed('json'), TypeError),  # type: ignore
        'compressed-codec': (lambda: Compressed(JsonSerializer(), 'rar'),
                             ValueError),
        'file-lock-timeout-str': (lambda: FileLock(tmp, timeout='1'),  # type: ignore
                                  TypeError),
    }
    from hutch.stash.directory import DirectoryStash
    cases.update({
        'directory-path-int': (lambda: DirectoryStash(1), TypeError),  # type: ignore
        'directory-pattern-no-name': (
            lambda: DirectoryStash(tmp, pattern='x.dat'), ValueError),
        'directory-pattern-with-slash': (
            lambda: DirectoryStash(tmp, pattern='sub/{name}'), ValueError),
        'directory-serializer': (
            lambda: DirectoryStash(tmp, serializer='yaml'), ValueError),
        'directory-shard-str': (lambda: DirectoryStash(tmp, shard='4'),  # type: ignore
                                TypeError),
    })
    from hutch.stash.sqlite import SqliteStash
    cases.update({
        'sqlite-path-int': (lambda: SqliteStash(1), TypeError),  # type: ignore
        'sqlite-table-injection': (
            lambda: SqliteStash(tmp / 'x.db', table='t; DROP TABLE t'),
            ValueError),
        'sqlite-timeout-negative': (
            lambda: SqliteStash(tmp / 'x.db', timeout=-1), ValueError),
        'sqlite-timeout-str': (
            lambda: SqliteStash(tmp / 'x.db', timeout='1'), TypeError),  # type: ignore
    })
    from hutch.persisted import PersistedWork, persisted
    cases.update({
        'persisted-work-path-int': (lambda: PersistedWork(1, object()),  # type: ignore
                                    TypeError),
        'persisted-work-no-owner': (lambda: PersistedWork('x', None),
                                    TypeError),
        'persisted-name-int': (lambda: persisted(1), TypeError),  # type: ignore
        'persisted-version-float': (lambda: persisted('x', version=1.5),  # type: ignore
                                    TypeError),
        'persisted-method-with-arguments': (
            lambda: persisted('x')(lambda self, n: n), TypeError),
        'persisted-above-property': (
            lambda: persisted('x')(property(lambda self: 1)), TypeError),  # type: ignore
    })
    return cases


_CASES = sorted(_bad_constructions(Path('/nonexistent')))


@pytest.mark.parametrize('case', _CASES)
def test_a_wrong_argument_fails_at_construction(
        case: str, tmp_path: Path) -> None:
    build, error = _bad_constructions(tmp_path)[case]
    with pytest.raises(error):
        build()
    assert os.listdir(tmp_path) == [], 'a refused construction made files'
