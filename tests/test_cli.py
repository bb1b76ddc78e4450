"""The ``hutch`` command, run as its users run it: the console script in a
subprocess, on real stashes made in a temporary folder."""

from __future__ import annotations

import os
import pty
import select
import shelve
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pytest

from hutch import get_serializer

HUTCH = shutil.which('hutch', path=os.fspath(Path(sys.executable).parent))


def hutch(*args: str, cwd: Optional[Path] = None,
          stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """Run the installed console script; it never prints a traceback."""
    assert HUTCH is not None, 'the hutch console script is not installed'
    done = subprocess.run([HUTCH, *args], capture_output=True, text=True,
                          cwd=cwd, stdin=stdin, timeout=60)
    assert 'Traceback' not in done.stderr, done.stderr
    return done


def fails_with(done: subprocess.CompletedProcess[str], status: int,
               text: str) -> None:
    """The command failed with ``status`` and one line naming ``text``."""
    assert done.returncode == status, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith('hutch: ') and text in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {os.fspath(p.relative_to(folder)): (p.stat().st_size,
                                               p.stat().st_mtime_ns)
            for p in sorted(folder.rglob('*')) if p.is_file()}


# -- stashes to look at ------------------------------------------------------

@pytest.fixture
def shelf(tmp_path: Path) -> Path:
    base = tmp_path / 'shelf'
    with shelve.open(os.fspath(base)) as s:
        s['alpha'] = {'n': 1}
        s['beta'] = [1, 2, 3]
    return base


@pytest.fixture
def zipped(tmp_path: Path) -> Path:
    path = tmp_path / 'data.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('greeting.txt', 'hello')
        z.writestr('numbers.json', '[1, 2, 3]')
    return path


# -- errors ------------------------------------------------------------------

def test_a_missing_path_is_one_line_and_exit_1(tmp_path: Path) -> None:
    fails_with(hutch('ls', os.fspath(tmp_path / 'nope')), 1,
               'no such file or folder')


def test_a_plain_file_is_not_a_stash(tmp_path: Path) -> None:
    (tmp_path / 'notes.txt').write_text('hello')
    fails_with(hutch('info', 'notes.txt', cwd=tmp_path), 1,
               'not a stash hutch knows')


def test_a_folder_without_data_files_is_not_a_directory_stash(
        tmp_path: Path) -> None:
    (tmp_path / 'notes.txt').write_text('hello')
    fails_with(hutch('ls', os.fspath(tmp_path)), 1, 'no .dat files')


def test_an_unreadable_path_is_one_line_and_exit_1(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root reads everything: a folder in place of a file stands in
        target = tmp_path / 'x.db'
        target.mkdir()
        fails_with(hutch('ls', '--kind', 'sqlite', os.fspath(target)), 1,
                   os.fspath(target))
        return
    target = tmp_path / 'secret.db'
    target.write_bytes(b'SQLite format 3\x00' + bytes(100))
    target.chmod(0)
    fails_with(hutch('ls', os.fspath(target)), 1, 'secret.db')


def test_no_command_prints_usage_and_exits_2() -> None:
    done = hutch()
    assert done.returncode == 2
    assert 'usage: hutch' in done.stderr


def test_an_unknown_kind_is_a_usage_error(tmp_path: Path) -> None:
    done = hutch('ls', '--kind', 'redis', os.fspath(tmp_path))
    assert done.returncode == 2
    assert 'invalid choice' in done.stderr


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run([sys.executable, '-m', 'hutch', '--version'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith('hutch ')


# -- shelves -----------------------------------------------------------------

def test_ls_lists_a_shelf_given_without_its_extension(shelf: Path) -> None:
    done = hutch('ls', os.fspath(shelf))
    assert done.returncode == 0
    assert done.stdout.splitlines() == ['alpha', 'beta']


def test_a_shelf_is_found_from_any_of_its_files(shelf: Path) -> None:
    names = [p.name for p in shelf.parent.iterdir()]
    assert names, 'the shelf made no files'
    for name in names:
        done = hutch('info', os.fspath(shelf.parent / name))
        assert done.returncode == 0, done.stderr
        assert 'shelve (ShelveStash)' in done.stdout


def test_show_prints_a_shelf_value(shelf: Path) -> None:
    done = hutch('show', os.fspath(shelf), 'alpha')
    assert done.returncode == 0
    assert done.stdout == "{'n': 1}\n"


def test_reading_a_shelf_changes_no_file(shelf: Path) -> None:
    before = snapshot(shelf.parent)
    for args in (['ls', '-l'], ['info'], ['show', '--json']):
        extra = ['beta'] if args[0] == 'show' else []
        assert hutch(args[0], *args[1:], os.fspath(shelf), *extra) \
            .returncode == 0
    assert snapshot(shelf.parent) == before


# -- zip files ---------------------------------------------------------------

def test_a_zip_is_detected_by_its_signature(zipped: Path) -> None:
    renamed = zipped.with_name('archive.bin')
    zipped.rename(renamed)
    done = hutch('info', os.fspath(renamed))
    assert done.returncode == 0, done.stderr
    assert 'zip (ZipStash)' in done.stdout


def test_rm_on_a_zip_is_refused_as_read_only(zipped: Path) -> None:
    fails_with(hutch('rm', os.fspath(zipped), 'greeting.txt'), 1,
               'read-only')


# -- helpers for the remaining kinds ------------------------------------------

def answer_on_a_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run ``hutch`` with a real terminal as its input and type ``answer``."""
    assert HUTCH is not None
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([HUTCH, *args], stdin=slave,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        os.close(slave)
        os.write(master, answer.encode() + b'\n')
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
    assert 'Traceback' not in err, err
    return proc.returncode, out + err


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


_ = (select, sqlite3, get_serializer, wait_for)
