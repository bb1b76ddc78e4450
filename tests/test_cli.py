"""The ``hutch`` command, run as its users run it: the console script in a
subprocess, on real stashes made in a temporary folder."""

from __future__ import annotations

import json
import os
import pty
import re
import shelve
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Optional

import pytest

from hutch import DirectoryStash, ShelveStash, SqliteStash

HUTCH = shutil.which('hutch', path=os.fspath(Path(sys.executable).parent))


def hutch(*args: str, cwd: Optional[Path] = None,
          stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """Run the installed console script; it never prints a traceback."""
    assert HUTCH is not None, 'the hutch console script is not installed'
    done = subprocess.run([HUTCH, *args], capture_output=True, text=True,
                          errors='replace',
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

ITEMS: dict[str, Any] = {
    'doc-2': {'title': 'two', 'words': [1, 2]},
    'doc-10': {'title': 'ten'},
    'doc-1': None,
    'a/b': 'slash',
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / 'stash'
    stash = DirectoryStash(path)
    for key, value in ITEMS.items():
        stash.dump(key, value)
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / 'items.db'
    stash = SqliteStash(path)
    for key, value in ITEMS.items():
        stash.dump(key, value)
    stash.close()
    return path

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


def test_one_file_of_a_folder_stash_points_to_its_folder(
        folder: Path) -> None:
    file = DirectoryStash(folder).key_to_path('doc-2')
    fails_with(hutch('show', os.fspath(file), 'doc-2'), 1, 'give its folder')


def test_a_folder_of_files_that_end_differently_asks_for_a_pattern(
        tmp_path: Path) -> None:
    (tmp_path / 'notes.txt').write_text('hello')
    (tmp_path / 'list.csv').write_text('a,b')
    (tmp_path / 'more.csv').write_text('c,d')
    fails_with(hutch('ls', os.fspath(tmp_path)), 1,
               "--pattern '{name}.csv'")


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


def test_a_shelf_written_with_json_is_shown(tmp_path: Path) -> None:
    stash = ShelveStash(tmp_path / 'shelf', serializer='json')
    stash.dump('k', {'a': [1]})
    stash.close()
    assert hutch('show', os.fspath(tmp_path / 'shelf'), 'k').stdout == \
        "{'a': [1]}\n"


def test_rm_and_clear_write_to_a_shelf(shelf: Path) -> None:
    assert hutch('rm', os.fspath(shelf), 'alpha').returncode == 0
    with shelve.open(os.fspath(shelf)) as s:
        assert sorted(s) == ['beta']
    done = hutch('clear', '--yes', os.fspath(shelf))
    assert (done.returncode, done.stdout) == (0, 'removed 1 key\n')
    assert list(shelf.parent.iterdir()) == []


# -- zip files ---------------------------------------------------------------

def test_a_zip_lists_its_entries_and_shows_them(zipped: Path) -> None:
    assert hutch('ls', os.fspath(zipped)).stdout.splitlines() == \
        ['greeting.txt', 'numbers.json']
    assert hutch('show', os.fspath(zipped), 'greeting.txt').stdout == \
        "'hello'\n"
    assert hutch('show', os.fspath(zipped), 'numbers.json').stdout == \
        '[1, 2, 3]\n'


def test_a_zip_is_detected_by_its_signature(zipped: Path) -> None:
    renamed = zipped.with_name('archive.bin')
    zipped.rename(renamed)
    done = hutch('info', os.fspath(renamed))
    assert done.returncode == 0, done.stderr
    assert 'zip (ZipStash)' in done.stdout


def test_rm_on_a_zip_is_refused_as_read_only(zipped: Path) -> None:
    fails_with(hutch('rm', os.fspath(zipped), 'greeting.txt'), 1,
               'read-only')




# -- directory stashes --------------------------------------------------------

def test_ls_lists_keys_in_natural_order(folder: Path) -> None:
    done = hutch('ls', os.fspath(folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ['a/b', 'doc-1', 'doc-2', 'doc-10']


def test_ls_limit_shows_the_first_keys_and_counts_the_rest(
        folder: Path) -> None:
    done = hutch('ls', '--limit', '2', os.fspath(folder))
    assert done.stdout.splitlines() == ['a/b', 'doc-1']
    assert '2 more keys' in done.stderr


def test_ls_long_shows_stored_size_and_time(folder: Path) -> None:
    done = hutch('ls', '--long', os.fspath(folder))
    line = done.stdout.splitlines()[-1]
    match = re.fullmatch(
        r' *(\d+)  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  doc-10', line)
    assert match, line
    size = DirectoryStash(folder).key_to_path('doc-10').stat().st_size
    assert int(match.group(1)) == size


def test_a_key_that_would_break_the_listing_is_quoted(tmp_path: Path) -> None:
    DirectoryStash(tmp_path).dump('two\nlines', 1)
    done = hutch('ls', os.fspath(tmp_path))
    assert done.stdout == "'two\\nlines'\n"


def test_an_empty_folder_is_an_empty_stash(tmp_path: Path) -> None:
    done = hutch('info', os.fspath(tmp_path))
    assert done.returncode == 0, done.stderr
    assert re.search(r'^keys +0$', done.stdout, re.MULTILINE)
    assert hutch('ls', os.fspath(tmp_path)).stdout == ''


def test_show_pretty_prints_the_value(folder: Path) -> None:
    done = hutch('show', os.fspath(folder), 'doc-2')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{'title': 'two', 'words': [1, 2]}\n"


def test_show_finds_a_key_with_unsafe_characters(folder: Path) -> None:
    assert hutch('show', os.fspath(folder), 'a/b').stdout == "'slash'\n"


def test_show_prints_a_stored_none(folder: Path) -> None:
    done = hutch('show', os.fspath(folder), 'doc-1')
    assert (done.returncode, done.stdout) == (0, 'None\n')


def test_show_json_prints_json(folder: Path) -> None:
    done = hutch('show', '--json', os.fspath(folder), 'doc-2')
    assert json.loads(done.stdout) == ITEMS['doc-2']


def test_show_json_of_a_value_without_a_json_form_fails_in_one_line(
        tmp_path: Path) -> None:
    DirectoryStash(tmp_path).dump('s', {1, 2})
    fails_with(hutch('show', '--json', os.fspath(tmp_path), 's'), 1,
               'no JSON form')


def test_show_raw_writes_the_stored_bytes(folder: Path) -> None:
    done = subprocess.run([HUTCH or 'hutch', 'show', '--raw',
                           os.fspath(folder), 'doc-2'],
                          capture_output=True, timeout=60)
    path = DirectoryStash(folder).key_to_path('doc-2')
    assert done.stdout == path.read_bytes()


def test_show_reads_any_serializer(tmp_path: Path) -> None:
    DirectoryStash(tmp_path, serializer='json+zlib').dump('k', {'a': [1]})
    assert hutch('show', os.fspath(tmp_path), 'k').stdout == \
        "{'a': [1]}\n"
    info = hutch('info', os.fspath(tmp_path)).stdout
    assert re.search(r'^serializer +json\+zlib ', info, re.MULTILINE), info


def test_show_of_a_missing_key_fails_in_one_line(folder: Path) -> None:
    fails_with(hutch('show', os.fspath(folder), 'doc-99'), 1,
               "no key 'doc-99'")


def test_show_of_a_corrupt_file_fails_in_one_line(folder: Path) -> None:
    path = DirectoryStash(folder).key_to_path('doc-2')
    path.write_bytes(path.read_bytes()[:-5])
    fails_with(hutch('show', os.fspath(folder), 'doc-2'), 1,
               "cannot read the value as pickle")


def test_a_value_of_a_class_that_cannot_be_imported_shows_or_fails_in_one_line(
        tmp_path: Path) -> None:
    module = tmp_path / 'gone_module.py'
    module.write_text('class Thing:\n    pass\n')
    subprocess.run(
        [sys.executable, '-c', 'import gone_module\nfrom hutch import '
         'DirectoryStash\nDirectoryStash("s")["t"] = gone_module.Thing()'],
        cwd=tmp_path, check=True, timeout=60,
        env={**os.environ, 'PYTHONPATH': os.pathsep.join(
            [os.fspath(tmp_path), os.environ.get('PYTHONPATH', '')])})
    module.unlink()
    assert hutch('show', os.fspath(tmp_path / 's'), 't').stdout == \
        'gone_module.Thing()\n'  # read without importing anything
    done = hutch('show', '--unpickle', os.fspath(tmp_path / 's'), 't')
    fails_with(done, 1, "No module named 'gone_module'")
    assert 't.dat' in done.stderr and '--raw' in done.stderr


def test_an_unknown_serializer_is_a_usage_error(folder: Path) -> None:
    done = hutch('show', '--serializer', 'yaml', os.fspath(folder), 'doc-2')
    assert done.returncode == 2
    assert "unknown serializer 'yaml'" in done.stderr


def test_a_kind_that_does_not_fit_fails_in_one_line(folder: Path) -> None:
    for kind in ('sqlite', 'zip', 'shelve'):
        done = hutch('ls', '--kind', kind, os.fspath(folder))
        assert done.returncode == 1, (kind, done.stderr)
        assert len(done.stderr.splitlines()) == 1, done.stderr


def test_info_gives_kind_keys_size_and_serializer(folder: Path) -> None:
    done = hutch('info', os.fspath(folder))
    assert done.returncode == 0, done.stderr
    size = sum(p.stat().st_size for p in folder.iterdir())
    fields = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert fields['kind'] == 'directory (DirectoryStash)'
    assert fields['keys'] == '4'
    assert f'({size} bytes in 4 files)' in fields['disk']
    assert fields['serializer'].startswith('pickle ')


def test_a_sharded_folder_is_read_with_its_shard_count(
        tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path, shard=3)
    for i in range(20):
        stash.dump(f'k{i}', i)
    done = hutch('info', os.fspath(tmp_path))
    assert re.search(r'^keys +20$', done.stdout, re.MULTILINE), done.stdout
    assert re.search(r'^shards +3$', done.stdout, re.MULTILINE)
    assert hutch('show', os.fspath(tmp_path), 'k7').stdout == '7\n'


def test_a_pattern_selects_the_files(tmp_path: Path) -> None:
    DirectoryStash(tmp_path, pattern='item-{name}.pkl').dump('x', 1)
    # the end of a pattern is worked out, its start is not (keys share
    # starts of their own)
    assert hutch('ls', os.fspath(tmp_path)).stdout == 'item-x\n'
    done = hutch('ls', '--pattern', 'item-{name}.pkl', os.fspath(tmp_path))
    assert done.stdout == 'x\n'


def test_reading_commands_change_nothing_on_disk(folder: Path) -> None:
    before = snapshot(folder.parent)
    for args in (['ls'], ['ls', '-l'], ['info'], ['show', '--json'],
                 ['show', '--raw']):
        extra = ['doc-2'] if args[0] == 'show' else []
        done = hutch(*args, os.fspath(folder), *extra)
        assert done.returncode == 0, (args, done.stderr)
    assert snapshot(folder.parent) == before


def test_rm_removes_the_given_keys(folder: Path) -> None:
    done = hutch('rm', os.fspath(folder), 'doc-2', 'a/b')
    assert (done.returncode, done.stdout, done.stderr) == (0, '', '')
    assert sorted(DirectoryStash(folder).keys()) == ['doc-1', 'doc-10']


def test_rm_of_a_missing_key_says_so_and_removes_the_others(
        folder: Path) -> None:
    done = hutch('rm', os.fspath(folder), 'nope', 'doc-2')
    assert done.returncode == 1
    assert "no key 'nope'" in done.stderr
    assert 'doc-2' not in DirectoryStash(folder).keys()


def test_clear_refuses_without_a_terminal_or_yes(folder: Path) -> None:
    fails_with(hutch('clear', os.fspath(folder)), 2, 'pass --yes')
    assert len(DirectoryStash(folder)) == 4


def test_clear_yes_removes_every_key_and_keeps_the_folder(
        folder: Path) -> None:
    done = hutch('clear', '--yes', os.fspath(folder))
    assert (done.returncode, done.stdout) == (0, 'removed 4 keys\n')
    assert list(folder.iterdir()) == []


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


def test_clear_asks_on_a_terminal_and_yes_clears(folder: Path) -> None:
    status, text = answer_on_a_terminal(['clear', os.fspath(folder)], 'y')
    assert 'remove all 4 keys' in text
    assert status == 0
    assert len(DirectoryStash(folder)) == 0


def test_clear_asks_on_a_terminal_and_anything_else_keeps(
        folder: Path) -> None:
    status, text = answer_on_a_terminal(['clear', os.fspath(folder)], 'n')
    assert (status, 'nothing removed' in text) == (1, True)
    assert len(DirectoryStash(folder)) == 4


# -- SQLite stashes ----------------------------------------------------------

def test_a_sqlite_stash_is_listed_and_shown(database: Path) -> None:
    assert hutch('ls', os.fspath(database)).stdout.splitlines() == \
        ['a/b', 'doc-1', 'doc-2', 'doc-10']
    assert hutch('show', os.fspath(database), 'doc-10').stdout == \
        "{'title': 'ten'}\n"


def test_sqlite_info_names_the_table(database: Path) -> None:
    done = hutch('info', os.fspath(database))
    assert 'sqlite (SqliteStash)' in done.stdout
    assert re.search(r'^table +stash$', done.stdout, re.MULTILINE)
    assert re.search(r'^keys +4$', done.stdout, re.MULTILINE)


def test_a_sqlite_stash_in_another_table_is_found(tmp_path: Path) -> None:
    path = tmp_path / 'x.sqlite'
    stash = SqliteStash(path, table='things', serializer='json')
    stash.dump('k', [1])
    stash.close()
    assert hutch('show', os.fspath(path), 'k').stdout == '[1]\n'


def test_a_sqlite_file_without_a_stash_table_is_refused(
        tmp_path: Path) -> None:
    path = tmp_path / 'other.db'
    with sqlite3.connect(path) as conn:
        conn.execute('pragma journal_mode = wal')
        conn.execute('create table people (name text, age int)')
    conn.close()
    before = path.read_bytes()
    fails_with(hutch('ls', os.fspath(path)), 1, 'no stash table')
    fails_with(hutch('ls', '--table', 'people', os.fspath(path)), 1,
               "no stash table 'people'")
    assert path.read_bytes() == before


def test_a_sqlite_file_a_stash_did_not_write_is_left_alone(
        tmp_path: Path) -> None:
    path = tmp_path / 'theirs.db'
    with sqlite3.connect(path) as conn:
        conn.execute('create table stash (key text primary key, value blob)')
        conn.execute("insert into stash values ('k', x'00')")
    conn.close()
    before = snapshot(tmp_path)
    fails_with(hutch('ls', os.fspath(path)), 1, 'not in WAL mode')
    assert snapshot(tmp_path) == before


def test_reading_a_sqlite_stash_changes_nothing_on_disk(
        database: Path) -> None:
    before = snapshot(database.parent)
    for args in (['ls', '-l'], ['info'], ['show']):
        extra = ['doc-2'] if args[0] == 'show' else []
        assert hutch(*args, os.fspath(database), *extra).returncode == 0
    assert snapshot(database.parent) == before


def test_rm_and_clear_write_to_a_sqlite_stash(database: Path) -> None:
    assert hutch('rm', os.fspath(database), 'doc-2').returncode == 0
    assert hutch('clear', '-y', os.fspath(database)).stdout == \
        'removed 3 keys\n'
    stash = SqliteStash(database)
    assert len(stash) == 0
    stash.close()


# -- the demonstration -------------------------------------------------------

def test_demo_builds_interrupts_resumes_and_reads_back(
        tmp_path: Path) -> None:
    done = hutch('demo', '--items', '150', '--dir', os.fspath(tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for part in ('== 1.', '== 2.', '== 3.', '== 4.', 'returning count value'):
        assert part in out, out
    stored = int(re.search(r'(\d+) items stored', out).group(1))
    built = int(re.search(r'built (\d+) missing items', out).group(1))
    kept = int(re.search(r'the (\d+) items of the first run', out).group(1))
    assert (stored == kept) and (kept + built == 150), out
    assert len(DirectoryStash(tmp_path / 'documents')) == 150


def test_demo_run_again_in_its_folder_starts_afresh(tmp_path: Path) -> None:
    first = hutch('demo', '--items', '60', '--dir', os.fspath(tmp_path))
    assert first.returncode == 0, first.stderr
    (tmp_path / 'documents' / 'mine.txt').write_text('not the demo\'s')
    again = hutch('demo', '--items', '60', '--dir', os.fspath(tmp_path))
    assert again.returncode == 0, again.stderr
    assert "removed an earlier demo's files" in again.stdout
    assert 'returning count value' in again.stdout
    assert (tmp_path / 'documents' / 'mine.txt').exists()


def test_demo_without_dir_works_in_a_temporary_folder_it_removes() -> None:
    done = hutch('demo', '--items', '60')
    assert done.returncode == 0, done.stderr
    folder = re.search(r'working in (\S+)', done.stdout).group(1)
    assert not Path(folder).exists()
