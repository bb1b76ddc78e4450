"""Large values: numpy arrays and training batches, against numpy's own files.

Workloads (one value, dumped over itself or loaded, a round each):

* ``array`` -- a float64 array of 1, 10 and 100 MB (and 1 GB in the full
  run);
* ``batch`` -- a dict like a training batch: three arrays (features,
  labels, a mask; about 33 MB) and a list of 20,000 strings.

Contenders: ``hutch`` (``DirectoryStash``), ``hutch-sqlite``
(``SqliteStash``), ``hutch-persisted`` (the file of a ``PersistedWork``);
the floor ``floor:numpy`` (``np.save``/``np.load`` of the array, or
``np.savez`` of the batch's arrays, which leaves the strings out); ``joblib``
(``joblib.dump``/``load``); ``pickle-file`` (``pickle.dump`` into an open
file, ``pickle.load`` from one); ``zensols`` (``zensols.persist``'s
``DirectoryStash``) and ``diskcache``.  The ``mmap-load`` operation maps
the value instead of reading it: ``hutch`` with ``mmap=True``,
``np.load(mmap_mode='r')`` and ``joblib.load(mmap_mode='r')``.

Dumps flush the file system before each round, so no contender pays for
another's unwritten data; figures are the least of the alternating rounds
(the noise of a shared machine only ever adds to a large copy).
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .harness import HUTCH, Case, Config, Contender, Item, NotAvailable, Note, require

AREA = 'large'
MB = 1 << 20

Store = tuple[Callable[[Any], None], Callable[[], Any]]
"""How one contender dumps a value and loads it back."""


def _array(mb: int) -> Any:
    np = require('numpy', 'arange')
    return np.arange(mb * MB // 8, dtype=np.float64)


def _batch(rows: int) -> dict[str, Any]:
    np = require('numpy', 'random')
    rng = np.random.default_rng(13)
    return {'features': rng.random((rows, 384), dtype=np.float32),
            'labels': rng.integers(0, 100, rows),
            'mask': rng.random((rows, 128)) > 0.5,
            'ids': [f'doc-{i:06d}' for i in range(rows)]}


def _hutch(home: Path, mmap: bool = False) -> Store:
    hutch = require('hutch', 'DirectoryStash')
    stash = hutch.DirectoryStash(home, mmap=mmap)
    return (lambda v: stash.dump('value', v)), (lambda: stash.load('value'))


def _hutch_sqlite(home: Path) -> Store:
    hutch = require('hutch', 'SqliteStash')
    stash = hutch.SqliteStash(home / 'db.sqlite3')
    return (lambda v: stash.dump('value', v)), (lambda: stash.load('value'))


class _Owner:
    pass


def _hutch_persisted(home: Path) -> Store:
    hutch = require('hutch', 'PersistedWork')
    path = home / 'value.dat'

    def dump(value: Any) -> None:
        hutch.PersistedWork(path, _Owner())._write(value)

    def load() -> Any:
        return hutch.PersistedWork(path, _Owner())()

    return dump, load


def _numpy(home: Path, mmap: bool = False) -> Store:
    np = require('numpy', 'save')
    path = home / 'value.npy'
    batch = home / 'value.npz'

    def dump(value: Any) -> None:
        if isinstance(value, dict):  # the arrays of a batch, no strings
            np.savez(batch, **{k: v for k, v in value.items()
                               if isinstance(v, np.ndarray)})
        else:
            np.save(path, value)

    def load() -> Any:
        if batch.exists():
            with np.load(batch) as f:
                return {k: f[k] for k in f.files}
        return np.load(path, mmap_mode='r' if mmap else None)

    return dump, load


def _joblib(home: Path, mmap: bool = False) -> Store:
    joblib = require('joblib', 'dump')
    path = home / 'value.joblib'
    return ((lambda v: joblib.dump(v, path)),
            (lambda: joblib.load(path, mmap_mode='r' if mmap else None)))


def _pickle_file(home: Path) -> Store:
    path = home / 'value.pickle'

    def dump(value: Any) -> None:
        with open(path, 'wb') as f:
            pickle.dump(value, f, pickle.HIGHEST_PROTOCOL)

    def load() -> Any:
        with open(path, 'rb') as f:
            return pickle.load(f)

    return dump, load


def _zensols(home: Path) -> Store:
    persist = require('zensols.persist', 'DirectoryStash')
    stash = persist.DirectoryStash(home)
    return (lambda v: stash.dump('value', v)), (lambda: stash.load('value'))


def _diskcache(home: Path) -> Store:
    diskcache = require('diskcache', 'Cache')
    cache = diskcache.Cache(str(home), eviction_policy='none')
    return (lambda v: cache.set('value', v)), (lambda: cache.get('value'))


READERS: dict[str, Callable[[Path], Store]] = {
    HUTCH: _hutch,
    'hutch-sqlite': _hutch_sqlite,
    'hutch-persisted': _hutch_persisted,
    'floor:numpy': _numpy,
    'joblib': _joblib,
    'pickle-file': _pickle_file,
    'zensols': _zensols,
    'diskcache': _diskcache,
}

MAPPERS: dict[str, Callable[[Path], Store]] = {
    HUTCH: lambda home: _hutch(home, mmap=True),
    'floor:numpy': lambda home: _numpy(home, mmap=True),
    'joblib': lambda home: _joblib(home, mmap=True),
}


def _contenders(cfg: Config, name: str, value: Any,
                stores: dict[str, Callable[[Path], Store]], op: str,
                notes: list[Note]) -> list[Contender]:
    contenders = []
    for peer, make in stores.items():
        home = cfg.workdir / AREA / name / op / peer.replace(':', '-')
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        try:
            dump, load = make(home)
        except NotAvailable as e:
            notes.append(Note(AREA, f'{name} {op}', f'{peer}: {e}'))
            continue
        dump(value)

        def run(dump: Callable[[Any], None] = dump,
                load: Callable[[], Any] = load, peer: str = peer) -> int:
            if op == 'dump':
                dump(value)
            else:
                loaded = load()
                if loaded is None:
                    raise AssertionError(f'{peer} lost the value')
            return 1

        contenders.append(Contender(peer, run))
    return contenders


def _cases(cfg: Config, workload: str, params: dict[str, Any],
           value: Any, with_mmap: bool) -> Iterator[Item]:
    name = '-'.join([workload, *(str(v) for v in params.values())])
    ops = ('dump', 'load', 'mmap-load') if with_mmap else ('dump', 'load')
    for op in ops:
        notes: list[Note] = []
        stores = MAPPERS if op == 'mmap-load' else READERS
        try:
            contenders = _contenders(cfg, name, value, stores, op, notes)
        finally:
            yield from notes
        yield Case(AREA, workload, op, dict(params), contenders,
                   unit='value', flush=op == 'dump', least=True,
                   profile_note='one value a round')
        shutil.rmtree(cfg.workdir / AREA / name / op, ignore_errors=True)


def cases(cfg: Config) -> Iterator[Item]:
    try:
        require('numpy', 'save')
    except NotAvailable as e:
        yield Note(AREA, 'array', str(e))
        return
    for mb in cfg.large_mb:
        yield from _cases(cfg, 'array', {'mb': mb}, _array(mb), True)
    yield from _cases(cfg, 'batch', {}, _batch(cfg.batch_rows), False)
    os.sync()
