"""The stash contract on object storage: memory:// and a real S3 API.

Each storage check reads and writes the objects with fsspec directly (plain
pickles named ``KEY.dat`` under the prefix), not through the stash.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import fsspec
import pytest

from hutch import (
    DirectoryCompositeStash,
    DirectoryStash,
    IncrementKeyDirectoryStash,
    Stash,
)
from hutch.testing import ReadContract, StorageContract, WriteContract

from ..test_composite import GROUPS, _item
from .conftest import S3Server


class _OnMemory:
    url: str

    @pytest.fixture(autouse=True)
    def _prefix(self, memory_url: str) -> None:
        self.url = memory_url

    def options(self) -> dict[str, Any]:
        return {}

    def raw_fs(self) -> Any:
        return fsspec.filesystem('memory')


class _OnS3:
    url: str
    server: S3Server

    @pytest.fixture(autouse=True)
    def _prefix(self, s3_url: str, s3_server: S3Server) -> None:
        self.url, self.server = s3_url, s3_server

    def options(self) -> dict[str, Any]:
        return self.server.storage_options

    def raw_fs(self) -> Any:
        return self.server.raw_fs()


class _Storage(StorageContract):
    """Checked against plain pickle objects named ``KEY.dat``."""

    url: str

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def raw_fs(self) -> Any:
        raise NotImplementedError

    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryStash(self.url, storage_options=self.options())

    def write_directly(self, stash: Stash, key: str, value: Any) -> None:
        self.raw_fs().pipe_file(f'{self.url}/{key}.dat', pickle.dumps(value))

    def read_directly(self, stash: Stash) -> dict[str, Any]:
        fs = self.raw_fs()
        root = fs._strip_protocol(self.url)
        return {path[len(root) + 1:-len('.dat')]: pickle.loads(fs.cat_file(path))
                for path in fs.find(root) if path.endswith('.dat')}


class TestMemoryDirectoryStash(_OnMemory, _Storage):
    pass


class TestS3DirectoryStash(_OnS3, _Storage):
    pass


class TestS3ShardedDirectoryStash(_OnS3, WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryStash(self.url, shard=16,
                              storage_options=self.options())


class TestMemoryJsonZlibDirectoryStash(_OnMemory, WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryStash(self.url, pattern='{name}.json.z',
                              serializer='json+zlib')


class _Increment(ReadContract):
    sample = {'1': 1, '2': [1, 2, 3], '3': None, '4': 'héllo wörld'}
    missing_key = '99'
    url: str

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        stash = IncrementKeyDirectoryStash(self.url,
                                           storage_options=self.options())
        for key in sorted(items, key=int):
            stash.dump(items[key])
        assert sorted(stash.keys(), key=int) == sorted(items, key=int)
        return stash


class TestMemoryIncrementKeyDirectoryStash(_OnMemory, _Increment):
    pass


class TestS3IncrementKeyDirectoryStash(_OnS3, _Increment):
    pass


class _Composite(WriteContract):
    sample = {'alpha': _item('alpha', 1), 'beta': _item('beta', 2),
              'nothing': None, 'text': _item('héllo', 3)}
    url: str

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryCompositeStash(self.url, GROUPS, 'feats',
                                       storage_options=self.options())


class TestMemoryDirectoryCompositeStash(_OnMemory, _Composite):
    pass


class TestS3DirectoryCompositeStash(_OnS3, _Composite):
    pass
