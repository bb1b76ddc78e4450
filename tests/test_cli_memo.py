"""``hutch ls -l`` and ``hutch info`` on a stash holding memoized results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hutch

HUTCH = [sys.executable, '-m', 'hutch']


def run(*args: str) -> str:
    done = subprocess.run([*HUTCH, *args], capture_output=True, text=True,
                          check=True)
    return done.stdout


class Unpicklable:
    """A result whose unpickling would leave a mark: ls must never do it."""

    def __reduce__(self) -> object:
        return (Path.touch, (Path(self.mark),))

    def __init__(self, mark: str) -> None:
        self.mark = mark


@pytest.fixture
def memo_db(tmp_path: Path) -> Path:
    path = tmp_path / 'memo.db'

    @hutch.memoize(path)
    def area(w: float, h: float = 1.0) -> float:
        return w * h

    area(2.0)
    area(3.0, 4.0)
    hutch.SqliteStash(path)['plain'] = 1
    return path


def test_ls_long_shows_how_each_result_was_made(memo_db: Path) -> None:
    lines = run('ls', '-l', str(memo_db)).splitlines()
    made = [line for line in lines if 'area(3.0, 4.0) computed' in line]
    assert len(made) == 1 and ' in ' in made[0]
    assert [line for line in lines if line.endswith('plain')]


def test_info_counts_memoized_results_by_function(memo_db: Path) -> None:
    out = run('info', str(memo_db))
    assert 'memo        2 memoized results: ' in out
    assert 'area (2)' in out


def test_ls_long_reads_metadata_without_unpickling(tmp_path: Path) -> None:
    mark = tmp_path / 'unpickled'

    @hutch.memoize(tmp_path / 'memo.db')
    def make(mark: str) -> Unpicklable:
        return Unpicklable(mark)

    make(str(mark))
    out = run('ls', '-l', str(tmp_path / 'memo.db'))
    assert 'make(' in out and not mark.exists()
