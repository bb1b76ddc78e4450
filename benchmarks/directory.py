"""DirectoryStash (one file per key) against zensols.persist and the raw floor.

Peers: ``zensols`` (``zensols.persist.DirectoryStash``: the API hutch
follows; plain ``open`` + ``pickle``, no atomic write) and the floor
``raw-files`` (hand-written ``open``/``pickle``/``os.replace`` into a temp
name, ``os.scandir`` for keys: the least any atomic directory store can do).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .harness import HUTCH, Config, Item, require
from .stashops import Adapter, Builder, StashAdapter, sizes_cases

AREA = 'directory'


class RawFiles(Adapter):
    """The floor: what an atomic one-file-per-key store costs at least."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        self.tmp = os.path.join(self.path, f'.tmp.{os.getpid()}')

    def _file(self, key: str) -> str:
        return os.path.join(self.path, key + '.dat')

    def dump(self, key: str, value: Any) -> None:
        with open(self.tmp, 'wb', buffering=0) as f:
            f.write(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        os.replace(self.tmp, self._file(key))

    def load(self, key: str) -> Any:
        try:
            with open(self._file(key), 'rb', buffering=0) as f:
                return pickle.loads(f.read())
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return os.path.exists(self._file(key))

    def keys(self) -> Iterable[str]:
        with os.scandir(self.path) as entries:
            return [e.name[:-4] for e in entries
                    if e.name.endswith('.dat') and not e.name.startswith('.')]


def hutch_builder(path: Path) -> Adapter:
    hutch = require('hutch', 'DirectoryStash')
    return StashAdapter(hutch.DirectoryStash(path))


def zensols_builder(path: Path) -> Adapter:
    persist = require('zensols.persist', 'DirectoryStash')
    return StashAdapter(persist.DirectoryStash(path))


BUILDERS: dict[str, Builder] = {
    HUTCH: hutch_builder,
    'zensols': zensols_builder,
    'floor:raw-files': RawFiles,
}


def cases(cfg: Config) -> Iterator[Item]:
    yield from sizes_cases(cfg, AREA, BUILDERS)
