"""The ``hutch`` command on folders it must read right without being told:
a directory stash written with another file name pattern, and a folder
that holds a ``dbm.dumb`` shelf (as the original stashes kept metadata)."""

from __future__ import annotations

import dbm.dumb
import os
import pickle
import shelve
from pathlib import Path

import pytest

from hutch import DirectoryStash
from hutch.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command's exit status, output and messages."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def write_dumb_shelf(base: Path, items: dict[str, object]) -> None:
    """A shelf as ``shelve`` writes it over ``dbm.dumb`` (``base.dat``,
    ``base.dir`` and, once it has been rewritten, ``base.bak``)."""
    for key, value in items.items():
        with shelve.Shelf(dbm.dumb.open(os.fspath(base), 'c')) as shelf:
            shelf[key] = value


@pytest.fixture
def json_z(tmp_path: Path) -> Path:
    stash = DirectoryStash(tmp_path / 'store', pattern='{name}.json.z',
                           serializer='json+zlib')
    for i in (1, 2, 10):
        stash.dump(f'doc-{i}', {'n': i})
    return tmp_path / 'store'


def test_ls_works_out_the_pattern_from_the_file_names(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, 'ls', os.fspath(json_z)) == (
        0, 'doc-1\ndoc-2\ndoc-10\n', '')


def test_show_reads_a_value_of_a_worked_out_pattern(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, 'show', os.fspath(json_z), 'doc-10')
    assert (status, out) == (0, "{'n': 10}\n")


def test_info_says_the_pattern_was_worked_out(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, 'info', os.fspath(json_z))
    assert status == 0
    assert 'keys        3\n' in out
    assert 'pattern     {name}.json.z (worked out from the file names)\n' \
        in out


def test_temporary_files_do_not_spoil_the_pattern(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (json_z / '.doc-3.json.z.123.0.hutch-tmp').write_bytes(b'partial')
    assert run(capsys, 'ls', os.fspath(json_z))[1] == \
        'doc-1\ndoc-2\ndoc-10\n'


def test_a_key_with_a_dot_keeps_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(tmp_path, pattern='{name}.pkl')
    stash.dump('v1.2', 1)
    stash.dump('v1.10', 2)
    assert run(capsys, 'ls', os.fspath(tmp_path))[1] == 'v1.2\nv1.10\n'


def test_files_that_end_differently_are_not_guessed_at(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (json_z / 'notes.txt').write_text('mine')
    status, out, err = run(capsys, 'ls', os.fspath(json_z))
    assert (status, out) == (1, '')
    assert "--pattern '{name}.json.z'" in err and '.txt (1)' in err, err


def test_the_pattern_that_works_is_suggested_for_a_given_one_that_fits_nothing(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, 'ls', '--pattern', '{name}.dat',
                         os.fspath(json_z))
    assert status == 1
    assert "--pattern '{name}.json.z'" in err and '--kind' not in err, err


def test_a_given_pattern_wins(
        json_z: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, 'ls', '--pattern', 'doc-{name}.json.z',
               os.fspath(json_z))[1] == '1\n2\n10\n'


def test_a_sharded_folder_gets_its_pattern_from_its_shards(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(tmp_path, pattern='{name}.bin', shard=4,
                           serializer='bytes')
    for i in range(12):
        stash.dump(f'k{i}', b'x')
    status, out, _ = run(capsys, 'info', os.fspath(tmp_path))
    assert status == 0 and 'keys        12\n' in out and 'shards      4' in out


# -- a shelf inside a folder -------------------------------------------------

@pytest.fixture
def with_shelf(tmp_path: Path) -> Path:
    folder = tmp_path / 'model'
    DirectoryStash(folder).dump('weights', [1, 2, 3])
    write_dumb_shelf(folder / 'meta', {'version': 3, 'author': 'me'})
    assert {'meta.dat', 'meta.dir', 'meta.bak'} <= set(os.listdir(folder))
    return folder


def test_a_shelf_in_a_folder_is_not_a_key(
        with_shelf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, 'ls', os.fspath(with_shelf)) == (0, 'weights\n', '')


def test_show_of_a_shelf_in_a_folder_says_how_to_open_it(
        with_shelf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, 'show', os.fspath(with_shelf), 'meta')
    assert (status, out) == (1, '')
    assert 'a dbm shelf' in err and f'hutch ls {with_shelf / "meta"}' in err


def test_info_names_the_shelf_in_a_folder(
        with_shelf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, 'info', os.fspath(with_shelf))
    assert status == 0 and 'keys        1\n' in out
    assert f'meta, a dbm shelf, not a key (hutch ls {with_shelf / "meta"})' \
        in out


def test_the_shelf_opens_as_the_advice_says(
        with_shelf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = os.fspath(with_shelf / 'meta')
    assert run(capsys, 'ls', base) == (0, 'author\nversion\n', '')
    assert run(capsys, 'show', base, 'version')[:2] == (0, '3\n')


def test_clear_and_rm_leave_a_shelf_in_a_folder_alone(
        with_shelf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {n: (with_shelf / n).read_bytes() for n in os.listdir(with_shelf)
              if n.startswith('meta.')}
    assert run(capsys, 'rm', os.fspath(with_shelf), 'meta')[0] == 1
    assert run(capsys, 'clear', '--yes', os.fspath(with_shelf))[:2] == (
        0, 'removed 1 key\n')
    after = {n: (with_shelf / n).read_bytes() for n in os.listdir(with_shelf)}
    assert after == before


def test_a_folder_holding_only_a_shelf_points_to_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dumb_shelf(tmp_path / 'meta', {'a': 1})
    status, out, err = run(capsys, 'ls', os.fspath(tmp_path))
    assert (status, out) == (1, '')
    assert f'hutch ls {tmp_path / "meta"}' in err, err


def test_a_value_file_beside_a_shelf_still_reads(
        with_shelf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, 'show', os.fspath(with_shelf), 'weights')
    assert (status, out) == (0, '[1, 2, 3]\n')
    assert pickle.loads((with_shelf / 'weights.dat').read_bytes()) == [1, 2, 3]
