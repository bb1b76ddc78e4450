"""SqliteStash.check: the database, and the side folder of its large values."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from hutch import PersistableError, SqliteStash
from hutch._files import TEMP_SUFFIX
from hutch.stash.check import (
    DATABASE,
    MISSING_FILE,
    NOT_A_FILE,
    ORPHAN,
    STALE_AFTER,
    STALE_TEMP,
    UNREADABLE,
)

LARGE = b'x' * (2 << 20)  # kept in a side file


@pytest.fixture
def stash(tmp_path: Path) -> SqliteStash:
    s = SqliteStash(tmp_path / 'db.sqlite3', serializer='bytes')
    s['big'] = LARGE
    s['other'] = LARGE + b'y'
    s['small'] = b'in the table'
    return s


def side_folder(stash: SqliteStash) -> Path:
    return stash.path.with_name(stash.path.name + '.large') / stash.table


def side_file(stash: SqliteStash, key: str) -> Path:
    with sqlite3.connect(stash.path) as conn:
        (name,) = conn.execute('select value from stash where key = ?',
                               (key,)).fetchone()
    conn.close()
    return side_folder(stash) / name


def aged(path: Path, age: float) -> Path:
    then = time.time() - age
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def found(report: object) -> list[tuple[str, str | None, str]]:
    return sorted((p.kind, p.key, os.path.basename(p.path))
                  for p in report.problems)  # type: ignore[attr-defined]


def test_a_store_with_large_values_has_no_problems(
        stash: SqliteStash) -> None:
    report = stash.check(values=True)
    assert (report.items, report.problems) == (3, [])


def test_a_stale_temporary_side_file_is_reported_and_fixed(
        stash: SqliteStash) -> None:
    temp = side_folder(stash) / f'.{"a" * 32}.value.9.0{TEMP_SUFFIX}'
    temp.write_bytes(b'half a value')
    aged(temp, STALE_AFTER + 60)
    assert found(stash.check()) == [(STALE_TEMP, None, temp.name)]
    report = stash.check(fix=True)
    assert report.ok and [p.fixed for p in report.problems] == [True]
    assert not temp.exists() and stash['big'] == LARGE


def test_a_temporary_side_file_being_written_is_left_alone(
        stash: SqliteStash) -> None:
    temp = side_folder(stash) / f'.{"a" * 32}.value.9.0{TEMP_SUFFIX}'
    temp.write_bytes(b'being written')
    assert stash.check(fix=True).problems == [] and temp.exists()


def test_an_old_side_file_no_row_names_is_an_orphan_fix_removes(
        stash: SqliteStash) -> None:
    orphan = side_folder(stash) / ('0' * 32 + '.value')
    shutil.copy(side_file(stash, 'big'), orphan)
    aged(orphan, STALE_AFTER + 60)
    assert found(stash.check()) == [(ORPHAN, None, orphan.name)]
    report = stash.check(fix=True, values=True)
    assert report.ok and not orphan.exists()
    assert sorted(stash.keys()) == ['big', 'other', 'small']
    assert stash['big'] == LARGE and stash['other'] == LARGE + b'y'


def test_a_young_side_file_no_row_names_may_be_a_write_about_to_commit(
        stash: SqliteStash) -> None:
    young = side_folder(stash) / ('0' * 32 + '.value')
    young.write_bytes(b'its row is about to commit')
    assert stash.check(fix=True).problems == [] and young.exists()


def test_a_row_whose_side_file_is_missing_is_reported_without_values(
        stash: SqliteStash) -> None:
    gone = side_file(stash, 'big')
    gone.unlink()
    assert found(stash.check()) == [(MISSING_FILE, 'big', gone.name)]
    report = stash.check(values=True, fix=True)
    assert found(report) == [(MISSING_FILE, 'big', gone.name)]
    assert not report.ok and 'big' in stash  # the row stays


def test_a_fifo_where_a_side_file_should_be_is_reported_once_never_read(
        stash: SqliteStash) -> None:
    pipe = side_file(stash, 'big')
    pipe.unlink()
    os.mkfifo(pipe)
    report = stash.check(values=True, fix=True)
    assert found(report) == [(NOT_A_FILE, 'big', pipe.name)]
    assert pipe.exists()


def test_a_link_where_a_side_file_should_be_is_reported(
        stash: SqliteStash, tmp_path: Path) -> None:
    link = side_file(stash, 'big')
    os.replace(link, tmp_path / 'moved')
    link.symlink_to(tmp_path / 'moved')
    assert found(stash.check()) == [(NOT_A_FILE, 'big', link.name)]


def test_a_damaged_side_file_is_found_with_values(
        tmp_path: Path) -> None:
    stash = SqliteStash(tmp_path / 'db.sqlite3')  # pickles
    stash['big'] = LARGE
    path = side_file(stash, 'big')
    path.write_bytes(path.read_bytes()[:1000])
    assert stash.check().problems == []
    assert found(stash.check(values=True)) == [
        (UNREADABLE, 'big', path.name)]


def test_fix_of_a_read_only_stash_is_refused_naming_the_file(
        stash: SqliteStash) -> None:
    reader = SqliteStash(stash.path, read_only=True)
    with pytest.raises(PersistableError, match='read-only') as e:
        reader.check(fix=True)
    assert str(stash.path) in str(e.value)
    assert reader.check().problems == []


def test_a_failed_database_check_does_not_claim_zero_items(
        damaged_sqlite: Path) -> None:
    report = SqliteStash(damaged_sqlite).check()
    assert report.problems[0].kind == DATABASE
    assert report.items is None  # the rows can't be counted either
    assert str(report).startswith('SqliteStash: items unknown, ')


@pytest.mark.timeout(30)
def test_loading_a_value_whose_side_file_is_a_fifo_raises_never_waits(
        stash: SqliteStash) -> None:
    pipe = side_file(stash, 'big')
    pipe.unlink()
    os.mkfifo(pipe)
    with pytest.raises(PersistableError) as caught:
        stash.load('big')
    assert caught.value.key == 'big' and str(pipe) in str(caught.value)


def test_loading_a_value_whose_side_file_is_a_link_raises_never_follows(
        stash: SqliteStash, tmp_path: Path) -> None:
    link = side_file(stash, 'big')
    os.replace(link, tmp_path / 'elsewhere')
    link.symlink_to(tmp_path / 'elsewhere')
    with pytest.raises(PersistableError) as caught:
        stash.load('big')
    assert caught.value.key == 'big'
