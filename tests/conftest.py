"""Shared fixtures: keep hutch's lock folder inside each test's tmp area."""

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
