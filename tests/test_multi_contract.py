"""The multiprocess stashes run the stash contract (hutch.testing).

Each stash is built by its workers before its first read: from a factory
holding the sample items, on threads and on worker processes writing
straight into a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hutch import (
    DictionaryStash,
    DirectoryStash,
    MultiProcessFactoryStash,
    Stash,
)
from hutch.testing import ReadContract, WriteContract


class TestBuiltOnThreads(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        return MultiProcessFactoryStash(
            DictionaryStash(), DictionaryStash(items), workers=2,
            backend='thread')


class TestBuiltByProcessesIntoAFolder(ReadContract):
    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> Stash:
        return MultiProcessFactoryStash(
            DirectoryStash(tmp_path / 'built'), DictionaryStash(items),
            workers=2, backend='process', start_method='fork')


class TestWrittenAfterItsBuild(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return MultiProcessFactoryStash(
            DirectoryStash(tmp_path / 'built'), DictionaryStash(),
            backend='serial')
