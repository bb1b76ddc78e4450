"""``hutch check``: real stores, damaged the ways crashes, copies and hand
edits damage them, checked through the command."""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest

from hutch import DirectoryStash, SqliteStash
from hutch.cli import main

from .test_cli_folders import write_dumb_shelf
from .test_zip import declare_size


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command's exit status, output and messages."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def files(folder: Path) -> dict[str, bytes]:
    return {os.fspath(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob('*')) if p.is_file()}


class Marks:
    """A value whose unpickling would leave a file: nothing may unpickle it."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self) -> object:
        return (Path.touch, (self.mark,))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    stash = DirectoryStash(tmp_path / 'store')
    for i in range(3):
        stash.dump(f'k{i}', {'i': i})
    return tmp_path / 'store'


def stale_temp(folder: Path) -> Path:
    """A temporary file a killed writer left an hour ago."""
    temp = folder / '.k9.dat.4242.0.hutch-tmp'
    temp.write_bytes(b'half a val')
    hour_ago = time.time() - 3600
    os.utime(temp, (hour_ago, hour_ago))
    return temp


def test_a_sound_folder_has_no_problems(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, 'check', '--values', os.fspath(folder)) == (
        0, 'DirectoryStash: 3 items, no problems\n'
           'note: values read as pickle (sniffed; --serializer says '
           'otherwise)\n', '')


def test_a_stale_temporary_file_is_a_problem_until_fixed(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    temp = stale_temp(folder)
    status, out, _ = run(capsys, 'check', os.fspath(folder))
    assert status == 1
    assert f'stale temporary file: {temp}\n' in out and temp.exists()
    status, out, _ = run(capsys, 'check', '--fix', os.fspath(folder))
    assert status == 0 and f'{temp} [fixed]' in out
    assert not temp.exists() and len(DirectoryStash(folder)) == 3
    assert run(capsys, 'check', os.fspath(folder))[0] == 0


def test_a_write_in_progress_is_no_problem(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / '.k9.dat.4242.0.hutch-tmp').write_bytes(b'being written')
    assert run(capsys, 'check', '--fix', os.fspath(folder))[0] == 0
    assert (folder / '.k9.dat.4242.0.hutch-tmp').exists()


def test_check_without_fix_changes_nothing_on_disk(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale_temp(folder)
    (folder / 'k1.dat').write_bytes(b'\x80\x05garbage')
    before = files(folder.parent)
    assert run(capsys, 'check', '--values', os.fspath(folder))[0] == 1
    assert files(folder.parent) == before


def test_a_name_that_decodes_to_no_key_is_reported_and_kept(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = folder / 'bad%zz.dat'
    bad.write_bytes(pickle.dumps(1))
    for args in (['check'], ['check', '--fix']):
        status, out, _ = run(capsys, *args, os.fspath(folder))
        assert status == 1 and f'name decodes to no key: {bad}\n' in out
    assert bad.exists()


def test_an_unreadable_value_is_found_with_values_only(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (folder / 'k1.dat').read_bytes()
    (folder / 'k1.dat').write_bytes(data[:len(data) // 2])  # cut short
    assert run(capsys, 'check', os.fspath(folder))[0] == 0
    status, out, _ = run(capsys, 'check', '--values', os.fspath(folder))
    assert status == 1
    assert "unreadable value (key 'k1'): " in out, out
    assert os.fspath(folder / 'k1.dat') in out
    status, out, _ = run(capsys, 'check', '--values', '--fix',
                         os.fspath(folder))
    assert status == 1 and (folder / 'k1.dat').exists()  # never removed


def test_reading_values_runs_no_code_from_them(
        folder: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    mark = tmp_path / 'ran'
    DirectoryStash(folder).dump('trap', Marks(mark))
    assert run(capsys, 'check', '--values', os.fspath(folder))[0] == 0
    assert not mark.exists()


def test_values_are_read_with_the_folders_own_pattern_and_serializer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(tmp_path, pattern='{name}.json.z',
                           serializer='json+zlib')
    stash.dump('a', [1, 2])
    stash.dump('b', {'x': 1})
    status, out, _ = run(capsys, 'check', '--values', os.fspath(tmp_path))
    assert (status, out.splitlines()[0]) == (
        0, 'DirectoryStash: 2 items, no problems')
    assert 'values read as json+zlib' in out
    (tmp_path / 'b.json.z').write_bytes(b'not zlib')
    status, out, _ = run(capsys, 'check', '--values', os.fspath(tmp_path))
    assert status == 1 and "(key 'b')" in out and 'decompress' in out, out


def test_a_shelf_in_the_folder_is_not_checked_as_a_value(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dumb_shelf(folder / 'meta', {'version': 1, 'more': 2})
    status, out, _ = run(capsys, 'check', '--values', os.fspath(folder))
    assert (status, out.splitlines()[0]) == (
        0, 'DirectoryStash: 3 items, no problems')


# -- other kinds -------------------------------------------------------------

@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / 'items.db'
    with SqliteStash(path) as stash:
        for i in range(300):
            stash.dump(f'k{i}', 'v' * 200)
    conn = sqlite3.connect(path)
    conn.execute('pragma wal_checkpoint(truncate)')
    conn.close()
    return path


def test_a_sound_sqlite_stash_passes_and_stays_as_it_was(
        database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = files(database.parent)
    status, out, _ = run(capsys, 'check', '--values', os.fspath(database))
    assert (status, out.splitlines()[0]) == (
        0, 'SqliteStash: 300 items, no problems')
    assert files(database.parent) == before


def test_a_damaged_sqlite_file_fails_its_database_check(
        database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(database.read_bytes())
    page = int.from_bytes(data[16:18], 'big')
    data[page * 3 + 100:page * 3 + 400] = b'\xff' * 300  # a table page
    database.write_bytes(bytes(data))
    status, out, _ = run(capsys, 'check', '--values', os.fspath(database))
    assert status == 1 and 'database check failed' in out, out


def test_an_unreadable_sqlite_value_is_found_with_values(
        database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(database)
    with conn:
        conn.execute("update stash set value = x'8005ff' where key = 'k7'")
    conn.close()
    status, out, _ = run(capsys, 'check', '--values', os.fspath(database))
    assert status == 1 and "unreadable value (key 'k7')" in out, out


def test_a_zip_is_checked_by_its_crcs_without_values(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('one.txt', 'first entry ' * 20)
        z.writestr('two.txt', 'second entry ' * 20)
    assert run(capsys, 'check', os.fspath(path)) == (
        0, 'ZipStash: 2 items, no problems\n', '')
    data = path.read_bytes()
    at = data.index(b'second entry')
    path.write_bytes(data[:at] + b'X' + data[at + 1:])  # its CRC is wrong
    for args in (['check'], ['check', '--values']):
        status, out, _ = run(capsys, *args, os.fspath(path))
        assert status == 1, out
        assert out.count("unreadable value (key 'two.txt')") == 1, out
        assert 'no check of its own' not in out


def test_a_zip_entry_that_declares_too_much_is_reported_not_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('huge', 'small, really')
    declare_size(path, b'huge', 0xFFFF0000)
    status, out, _ = run(capsys, 'check', '--values', os.fspath(path))
    assert status == 1
    assert "bad archive entry (key 'huge')" in out
    assert 'unreadable' not in out, out


def test_a_shelf_index_is_checked_against_its_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / 'meta'
    write_dumb_shelf(base, {'a': 1, 'b': 'two'})
    assert run(capsys, 'check', '--values', os.fspath(base)) == (
        0, 'ShelveStash: 2 items, no problems\n'
           'note: values read as pickle (sniffed; --serializer says '
           'otherwise)\n', '')
    with open(f'{base}.dir', 'a', encoding='latin-1') as f:
        f.write("'c', (0, 999999)\n")  # past the end of the data
    status, out, _ = run(capsys, 'check', '--values', os.fspath(base))
    assert status == 1
    assert out.startswith('ShelveStash: items unknown, 1 problem\n'
                          f'  database check failed: {base}.dir: '), out


def _side_file(database: Path, key: str) -> Path:
    conn = sqlite3.connect(database)
    (name,) = conn.execute('select value from stash where key = ?',
                           (key,)).fetchone()
    conn.close()
    return database.with_name(database.name + '.large') / 'stash' / name


@pytest.mark.timeout(30)
def test_a_sqlite_side_folder_is_checked_and_a_fifo_in_it_never_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / 'items.db'
    with SqliteStash(database) as stash:
        stash.dump('big', b'x' * (2 << 20))
        stash.dump('bigger', b'y' * (3 << 20))
    pipe = _side_file(database, 'big')
    pipe.unlink()
    os.mkfifo(pipe)
    orphan = pipe.with_name('0' * 32 + '.value')
    orphan.write_bytes(b'a value whose row never committed')
    hour_ago = time.time() - 3600
    os.utime(orphan, (hour_ago, hour_ago))
    status, out, _ = run(capsys, 'check', '--values', os.fspath(database))
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == 'SqliteStash: 2 items, 2 problems'
    assert sorted(lines[1:3]) == [
        f'  file no key refers to: {orphan}: no row names it',
        f"  not a regular file (key 'big'): {pipe}"]
    assert lines[3:] == [
        'note: values read as pickle (sniffed; --serializer says otherwise)']
    status, out, _ = run(capsys, 'check', '--fix', os.fspath(database))
    assert status == 1 and f'{orphan}: no row names it [fixed]' in out
    assert not orphan.exists() and pipe.exists()
