"""Shared fixtures: the lock folder in each test's tmp area, damaged stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_lock_dir(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp('locks')
    monkeypatch.setenv('HUTCH_LOCK_DIR', str(folder))
    yield folder


@pytest.fixture
def tracking() -> Iterator[None]:
    """Allocation tracking on for the test, and a clean registry."""
    from hutch import Deallocatable

    saved = Deallocatable.ALLOCATION_TRACKING
    Deallocatable._ALLOCATIONS.clear()
    Deallocatable.ALLOCATION_TRACKING = True
    yield
    Deallocatable.ALLOCATION_TRACKING = saved
    Deallocatable._ALLOCATIONS.clear()


@pytest.fixture
def damaged_sqlite(tmp_path: Path) -> Path:
    """A SqliteStash file of 200 rows with an inner page overwritten."""
    from hutch import SqliteStash

    path = tmp_path / 'damaged.sqlite3'
    stash = SqliteStash(path)
    stash.dump_many({f'k{i}': 'x' * 500 for i in range(200)})
    stash.close()
    data = bytearray(path.read_bytes())
    data[4096 * 2:4096 * 2 + 200] = b'\xff' * 200
    path.write_bytes(bytes(data))
    return path
