"""Stash.check: what a store holds that is not sound data, and fix=True."""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
from pathlib import Path

import pytest

from hutch import CacheStash, DictionaryStash, DirectoryStash, SqliteStash
from hutch._files import TEMP_SUFFIX
from hutch.stash.check import (
    DATABASE,
    MISPLACED,
    NOT_A_FILE,
    STALE_AFTER,
    STALE_TEMP,
    UNDECODABLE_NAME,
    UNREADABLE,
)


class RunsCode:
    """Unpickling this creates a file: a stand-in for a hostile pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, 'w'))


@pytest.fixture
def stash(tmp_path: Path) -> DirectoryStash:
    s = DirectoryStash(tmp_path / 'd')
    s['a'] = 1
    s['b'] = None
    return s


def kinds(report: object) -> list[str]:
    return sorted(p.kind for p in report.problems)  # type: ignore[attr-defined]


def test_a_sound_folder_has_no_problems(stash: DirectoryStash) -> None:
    report = stash.check(values=True)
    assert (report.items, report.problems, report.ok) == (2, [], True)


def _temp(folder: Path, age: float) -> Path:
    temp = folder / f'.a.dat.999.0{TEMP_SUFFIX}'
    temp.write_bytes(b'half a value')
    then = time.time() - age
    os.utime(temp, (then, then))
    return temp


def test_a_stale_temp_is_reported_and_removed_by_fix(
        stash: DirectoryStash) -> None:
    temp = _temp(stash.path, STALE_AFTER + 60)
    assert kinds(stash.check()) == [STALE_TEMP] and temp.exists()
    report = stash.check(fix=True)
    assert [p.fixed for p in report.problems] == [True] and report.ok
    assert not temp.exists()
    assert stash.check().problems == []


def test_a_temp_being_written_is_left_alone(stash: DirectoryStash) -> None:
    temp = _temp(stash.path, 1)
    assert stash.check(fix=True).problems == [] and temp.exists()


def test_a_name_that_decodes_to_no_key_is_reported_not_removed(
        stash: DirectoryStash) -> None:
    odd = stash.path / '%zz.dat'
    odd.write_bytes(pickle.dumps(1))
    report = stash.check(fix=True)
    assert kinds(report) == [UNDECODABLE_NAME] and not report.ok
    assert odd.exists()


def test_what_is_not_a_regular_file_is_reported(
        stash: DirectoryStash, tmp_path: Path) -> None:
    (stash.path / 'dir.dat').mkdir()
    os.mkfifo(stash.path / 'pipe.dat')
    (stash.path / 'link.dat').symlink_to(tmp_path / 'elsewhere')
    report = stash.check(fix=True)
    assert kinds(report) == [NOT_A_FILE] * 3
    assert all(not p.fixed for p in report.problems)


def test_what_is_not_a_regular_file_is_reported_once_with_values(
        stash: DirectoryStash, tmp_path: Path) -> None:
    (stash.path / 'dir.dat').mkdir()
    os.mkfifo(stash.path / 'pipe.dat')
    (stash.path / 'link.dat').symlink_to(stash.path / 'a.dat')
    report = stash.check(values=True)
    assert sorted((p.kind, os.path.basename(p.path))
                  for p in report.problems) == [
        (NOT_A_FILE, 'dir.dat'), (NOT_A_FILE, 'link.dat'),
        (NOT_A_FILE, 'pipe.dat')]
    assert report.items == 2  # a and b


def test_a_file_in_the_wrong_shard_is_reported(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'd', shard=16)
    stash['k'] = 1
    right = stash.key_to_path('k')
    wrong = right.parent.parent / \
        f'{(int(right.parent.name, 16) + 1) % 16:x}' / right.name
    wrong.parent.mkdir(exist_ok=True)
    os.replace(right, wrong)
    assert [(p.kind, p.key) for p in stash.check().problems] == \
        [(MISPLACED, 'k')]


def test_values_are_read_only_when_asked(
        stash: DirectoryStash, tmp_path: Path) -> None:
    marker = tmp_path / 'ran'
    (stash.path / 'hostile.dat').write_bytes(
        pickle.dumps(RunsCode(str(marker))))
    (stash.path / 'torn.dat').write_bytes(pickle.dumps(list(range(99)))[:9])
    assert stash.check().problems == [] and not marker.exists()
    report = stash.check(values=True, fix=True)
    assert [(p.kind, p.key) for p in report.problems] == \
        [(UNREADABLE, 'torn')]
    assert (stash.path / 'torn.dat').exists()


def test_a_wrapper_reports_what_it_wraps(stash: DirectoryStash) -> None:
    _temp(stash.path, STALE_AFTER + 60)
    assert kinds(CacheStash(stash).check()) == [STALE_TEMP]


def test_a_memory_stash_counts_its_items() -> None:
    report = DictionaryStash({'a': 1}).check(values=True)
    assert (report.items, report.ok) == (1, True)


def test_a_damaged_database_fails_sqlites_own_check(
        damaged_sqlite: Path) -> None:
    report = SqliteStash(damaged_sqlite).check()
    assert kinds(report)[:1] == [DATABASE] and not report.ok


def test_an_unreadable_row_is_reported_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / 'db.sqlite3'
    stash = SqliteStash(path)
    stash['good'] = 1
    with sqlite3.connect(path) as conn:
        conn.execute('INSERT INTO stash VALUES (?, ?)', ('bad', b'\x80junk'))
    conn.close()
    report = stash.check(values=True)
    stash.close()
    assert [(p.kind, p.key) for p in report.problems] == \
        [(UNREADABLE, 'bad')]
    assert report.items == 2


def test_the_report_reads_as_text(stash: DirectoryStash) -> None:
    (stash.path / 'dir.dat').mkdir()
    assert str(stash.check()).splitlines() == [
        'DirectoryStash: 2 items, 1 problem',
        f'  {NOT_A_FILE}: {stash.path / "dir.dat"}']
