"""Large values: arrays and batches of arrays in every durable store.

Round trips, memory-mapped loads (and their life across the replacement
of the file), the file layout (and the plain pickles that stay readable),
side files of the SQLite stash, a SIGKILL in the middle of a large write,
and the peak memory of a dump and a load, measured in a fresh process.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hutch import (
    CorruptDataError,
    DirectoryCompositeStash,
    DirectoryStash,
    PersistedWork,
    ShelveStash,
    SqliteStash,
    _layout,
)

MB = 1 << 20


def _batch(seed: int, rows: int = 2000) -> dict[str, Any]:
    """A value like a training batch: several arrays and a list of strings."""
    rng = np.random.default_rng(seed)
    return {'x': rng.random((rows, 128), dtype=np.float32),
            'y': rng.integers(0, 10, rows),
            'mask': rng.random((rows, 64)) > 0.5,
            'ids': [f'doc-{seed}-{i}' for i in range(rows)]}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool((a == b).all()))
    return bool(a == b)


class _Owner:
    pass


class _Work:
    """A :class:`PersistedWork` seen as a store of one value."""

    def __init__(self, path: Path, mmap: bool = False) -> None:
        self.path, self.mmap = path, mmap

    def dump(self, value: Any) -> None:
        work = PersistedWork(self.path, _Owner(), mmap=self.mmap)
        work._write(value)

    def load(self) -> Any:
        work = PersistedWork(self.path, _Owner(), mmap=self.mmap)
        work.worker = lambda: pytest.fail('the file was not read')
        return work()


STASHES: dict[str, Callable[[Path, bool], Any]] = {
    'directory': lambda p, m: DirectoryStash(p / 'd', mmap=m),
    'sharded': lambda p, m: DirectoryStash(p / 's', shard=16, mmap=m),
    'sqlite': lambda p, m: SqliteStash(p / 'db.sqlite3', mmap=m),
}


@pytest.fixture(params=sorted(STASHES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize('mmap', [False, True])
def test_large_values_round_trip_in_every_durable_stash(
        tmp_path: Path, kind: str, mmap: bool) -> None:
    stash = STASHES[kind](tmp_path, mmap)
    array = np.arange(3 * MB // 8, dtype=np.float64).reshape(-1, 3)
    fortran = np.asfortranarray(np.ones((600, 700)))
    stash.dump('array', array)
    stash.dump('batch', _batch(1))
    stash.dump('fortran', fortran)
    stash.dump('k' * 400, array)  # a long key keeps the value behind it
    assert _same(stash.load('array'), array)
    assert _same(stash.load('batch'), _batch(1))
    assert _same(stash.load('fortran'), fortran)
    assert _same(stash.load('k' * 400), array)
    assert sorted(stash.keys()) == sorted(['array', 'batch', 'fortran',
                                           'k' * 400])


def test_a_persisted_work_round_trips_a_large_value(tmp_path: Path) -> None:
    store = _Work(tmp_path / 'batch.dat')
    store.dump(_batch(2))
    assert _same(store.load(), _batch(2))
    assert _same(_Work(tmp_path / 'batch.dat', mmap=True).load(), _batch(2))


class Item:
    def __init__(self, feats: dict[str, Any]) -> None:
        self.feats = feats


def test_a_composite_stash_round_trips_large_groups(tmp_path: Path) -> None:
    stash = DirectoryCompositeStash(tmp_path, [{'x', 'y'}, {'mask', 'ids'}],
                                    'feats')
    stash.dump('item', Item(_batch(3)))
    assert _same(stash.load('item').feats, _batch(3))


def test_a_shelve_stash_round_trips_a_large_value(tmp_path: Path) -> None:
    with ShelveStash(tmp_path / 'shelf') as stash:
        stash.dump('batch', _batch(4))
        assert _same(stash.load('batch'), _batch(4))


def test_a_loaded_array_is_writable_without_mmap(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path)
    stash.dump('a', np.zeros(MB))
    loaded = stash.load('a')
    loaded[0] = 1.0
    assert loaded[0] == 1.0 and stash.load('a')[0] == 0.0


def test_a_memory_mapped_array_is_read_only(tmp_path: Path, kind: str
                                            ) -> None:
    stash = STASHES[kind](tmp_path, True)
    stash.dump('a', np.zeros(MB))
    loaded = stash.load('a')
    assert not loaded.flags.writeable
    with pytest.raises(ValueError):
        loaded[0] = 1.0


def test_a_memory_mapped_array_survives_the_replacement_of_its_file(
        tmp_path: Path, kind: str) -> None:
    stash = STASHES[kind](tmp_path, True)
    old, new = np.full(MB, 1.0), np.full(MB, 2.0)
    stash.dump('a', old)
    mapped = stash.load('a')
    stash.dump('a', new)
    assert _same(mapped, old)
    assert _same(stash.load('a'), new)
    stash.delete('a')
    assert _same(mapped, old)


def test_a_persisted_work_mapping_survives_the_replacement_of_its_file(
        tmp_path: Path) -> None:
    store = _Work(tmp_path / 'a.dat', mmap=True)
    store.dump(np.full(MB, 1.0))
    mapped = store.load()
    store.dump(np.full(MB, 2.0))
    assert _same(mapped, np.full(MB, 1.0))
    assert _same(store.load(), np.full(MB, 2.0))


def test_large_buffers_are_written_after_the_pickle_aligned(
        tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path)
    array = np.arange(MB, dtype=np.int64)
    stash.dump('a', array)
    data = stash.key_to_path('a').read_bytes()
    assert data.startswith(_layout.MAGIC + bytes((_layout.VERSION,)))
    at = data.index(array.tobytes()[:64])
    assert at % _layout.ALIGN == 0
    assert len(data) - at == array.nbytes


def test_small_values_stay_plain_pickles(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path)
    stash.dump('a', np.arange(100))
    assert _same(pickle.loads(stash.key_to_path('a').read_bytes()),
                 np.arange(100))


def test_a_plain_pickle_of_a_large_array_stays_readable(
        tmp_path: Path, kind: str) -> None:
    array = np.arange(2 * MB // 8, dtype=np.float64)
    for mmap in (False, True):
        if kind == 'sqlite':
            stash = SqliteStash(tmp_path / 'db.sqlite3', serializer='bytes')
            stash.dump('a', pickle.dumps(array, 4))
        else:
            stash = STASHES[kind](tmp_path, mmap)
            stash.key_to_path('a').parent.mkdir(parents=True, exist_ok=True)
            with open(stash.key_to_path('a'), 'wb') as f:
                pickle.dump(array, f, 4)  # as the original package writes
        assert _same(STASHES[kind](tmp_path, mmap).load('a'), array)


def test_a_truncated_large_file_is_corrupt_naming_the_key(
        tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path)
    stash.dump('a', np.zeros(MB))
    file = stash.key_to_path('a')
    os.truncate(file, file.stat().st_size - 100)
    for mmap in (False, True):
        with pytest.raises(CorruptDataError, match="key 'a'"):
            DirectoryStash(tmp_path, mmap=mmap).load('a')


def test_an_unknown_layout_version_is_corrupt(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path)
    stash.dump('a', np.zeros(MB))
    file = stash.key_to_path('a')
    data = bytearray(file.read_bytes())
    data[len(_layout.MAGIC)] = 99
    file.write_bytes(data)
    with pytest.raises(CorruptDataError, match='version 99'):
        stash.load('a')


def test_the_side_file_of_a_replaced_value_is_removed(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'db.sqlite3')
    side = tmp_path / 'db.sqlite3.large' / 'stash'
    stash.dump('a', np.zeros(MB))
    stash.dump('a', np.ones(MB))
    assert len(os.listdir(side)) == 1
    stash.dump('a', 'small now')
    stash.delete('other')  # a later write removes what the small one left
    assert os.listdir(side) == []
    assert stash.load('a') == 'small now'


def test_deleting_a_large_value_removes_its_side_file(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'db.sqlite3')
    stash.dump('a', np.zeros(MB))
    stash.delete('a')
    assert os.listdir(tmp_path / 'db.sqlite3.large' / 'stash') == []
    assert stash.load('a') is None and len(stash) == 0


def test_clear_removes_side_files_a_killed_writer_left(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'db.sqlite3')
    stash.dump('a', np.zeros(MB))
    side = tmp_path / 'db.sqlite3.large' / 'stash'
    (side / ('0' * 32 + '.value')).write_bytes(b'never committed')
    (side / '.x.1.0.hutch-tmp').write_bytes(b'half written')
    stash.clear()
    assert os.listdir(side) == [] and len(stash) == 0


def test_large_values_keep_the_table_small(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'db.sqlite3')
    stash.dump_many((f'k{i}', np.full(MB // 8, float(i))) for i in range(5))
    stash.dump('small', 1)
    stash.close()
    assert (tmp_path / 'db.sqlite3').stat().st_size < 100_000
    assert len(stash) == 6 and sorted(stash.keys())[:2] == ['k0', 'k1']
    assert _same(stash.load_many(['k3'])['k3'], np.full(MB // 8, 3.0))
    assert _same(dict(stash.items())['k4'], np.full(MB // 8, 4.0))


def test_a_failed_batch_leaves_no_side_file(tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'db.sqlite3')
    stash.dump('keep', np.zeros(MB))
    with pytest.raises(TypeError):
        stash.dump_many([('a', np.ones(MB)), (3, 'bad key')])  # type: ignore
    assert len(os.listdir(tmp_path / 'db.sqlite3.large' / 'stash')) == 1
    assert stash.load('a') is None


def test_the_core_does_not_import_numpy() -> None:
    code = ('import sys, hutch; from hutch import DirectoryStash, '
            'SqliteStash, PersistedWork; '
            "sys.exit('numpy' in sys.modules)")
    assert subprocess.run([sys.executable, '-c', code]).returncode == 0


# -- a SIGKILL during a large write -------------------------------------------

_WRITER = '''
import sys, numpy as np
from pathlib import Path
sys.path[:0] = {paths!r}
from tests.test_large import open_store
store = open_store({kind!r}, Path({home!r}))
n = 0
while True:
    n += 1
    store.dump(np.full({size}, float(n)))
    print(n, flush=True)
'''


def open_store(kind: str, home: Path) -> Any:
    """A store of one value of ``kind`` in ``home`` (for the writer)."""
    if kind == 'work':
        return _Work(home / 'value.dat')
    stash = STASHES[kind](home, False)

    class One:
        def dump(self, value: Any) -> None:
            stash.dump('value', value)

        def load(self) -> Any:
            return stash.load('value')
    return One()


@pytest.mark.parametrize('where', ['directory', 'sqlite', 'work'])
def test_a_kill_during_a_large_write_leaves_a_whole_value(
        tmp_path: Path, where: str) -> None:
    size = 4 * MB  # 32 MB of float64: each write takes a while
    paths = [str(Path(__file__).parent.parent), *sys.path]
    script = _WRITER.format(paths=paths, kind=where, home=str(tmp_path),
                            size=size)
    for delay in (0.0, 0.05, 0.13):
        proc = subprocess.Popen([sys.executable, '-c', script],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # one value is whole on disk
            assert first.strip() == '1', first
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        value = open_store(where, tmp_path).load()
        assert value.shape == (size,)
        assert (value == value[0]).all() and value[0] >= 1.0


# -- peak memory --------------------------------------------------------------

_MEASURE = '''
import sys, numpy as np
from pathlib import Path
sys.path[:0] = {paths!r}
from tests.test_large import open_store
store = open_store({kind!r}, Path({home!r}))
def peak():  # this process's own peak (ru_maxrss keeps the one before exec)
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f
                    if line.startswith('VmHWM:'))
if {load!r}:
    base = peak()
    value = store.load()
    assert value.nbytes == {size}
else:
    value = np.ones({size} // 8)
    value[::512] = 2.0  # every page touched
    base = peak()
    store.dump(value)
print(peak() - base)
'''

PEAK_SIZE = 256 * MB


def _peak_growth(kind: str, home: Path, load: bool) -> int:
    """How much the peak memory of a fresh process grows over a dump of a
    256 MB array (made before the measure starts), or over a load of it."""
    paths = [str(Path(__file__).parent.parent), *sys.path]
    script = _MEASURE.format(paths=paths, kind=kind, home=str(home),
                             load=load, size=PEAK_SIZE)
    out = subprocess.run([sys.executable, '-c', script], check=True,
                         capture_output=True, text=True, timeout=300)
    return int(out.stdout.strip())


@pytest.mark.parametrize('where', ['directory', 'sqlite', 'work'])
def test_a_large_dump_and_load_need_little_more_memory_than_the_value(
        tmp_path: Path, where: str) -> None:
    dumped = _peak_growth(where, tmp_path, load=False)
    loaded = _peak_growth(where, tmp_path, load=True)
    # a dump copies nothing; a load holds the value once (plus slack for
    # the interpreter's own growth, well under a copy of the value)
    assert dumped < 0.2 * PEAK_SIZE, dumped
    assert loaded < 1.2 * PEAK_SIZE, loaded


# -- the command line ---------------------------------------------------------

def _hutch(*args: str) -> str:
    done = subprocess.run([sys.executable, '-m', 'hutch', *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hutch_info_names_the_large_value_layout(tmp_path: Path,
                                                 kind: str) -> None:
    stash = STASHES[kind](tmp_path, False)
    stash.dump('a', np.zeros(MB // 8))
    where = stash.path if kind != 'sqlite' else tmp_path / 'db.sqlite3'
    fields = dict(line.split(None, 1)
                  for line in _hutch('info', os.fspath(where)).splitlines())
    assert fields['serializer'].startswith('pickle ')
    assert 'large value layout v1: 1 buffer(s), 1048576 bytes' in \
        fields['serializer']
    assert int(fields['disk'].split('(')[1].split()[0]) > MB


def test_hutch_show_shows_a_large_value(tmp_path: Path) -> None:
    SqliteStash(tmp_path / 'db.sqlite3').dump('a', np.arange(MB // 8))
    db = os.fspath(tmp_path / 'db.sqlite3')
    # read without running it: the pickle's calls, its buffer left out
    shown = _hutch('show', db, 'a')
    assert '<out-of-band buffer>' in shown and '(131072,)' in shown
    assert 'array([     0,      1' in _hutch('show', '--unpickle', db, 'a')


@pytest.mark.parametrize('serializer', ['json', 'pickle+zlib', 'text'])
def test_large_values_of_other_serializers_round_trip(
        tmp_path: Path, kind: str, serializer: str) -> None:
    value: Any = 'x' * (2 * MB) if serializer == 'text' else \
        {'rows': list(range(300_000))}
    if kind == 'sqlite':
        stash = SqliteStash(tmp_path / 'db.sqlite3', serializer=serializer)
    else:
        stash = DirectoryStash(tmp_path / kind, serializer=serializer,
                               shard=16 if kind == 'sharded' else 0)
    stash.dump('a', value)
    assert stash.load('a') == value


@pytest.mark.parametrize('count, length', [(0, 0), (1 << 40, 8),
                                           (1, 1 << 50)])
def test_a_damaged_header_is_corrupt_without_taking_memory(
        tmp_path: Path, count: int, length: int) -> None:
    stash = DirectoryStash(tmp_path)
    stash.dump('a', np.zeros(MB))
    file = stash.key_to_path('a')
    data = bytearray(file.read_bytes())
    at = len(_layout.MAGIC) + 1
    data[at + 8:at + 16] = count.to_bytes(8, 'little')
    data[at + 16:at + 24] = length.to_bytes(8, 'little')
    file.write_bytes(data)
    for mmap in (False, True):
        with pytest.raises(CorruptDataError, match="key 'a'"):
            DirectoryStash(tmp_path, mmap=mmap).load('a')
