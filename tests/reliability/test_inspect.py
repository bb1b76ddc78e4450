"""Looking into untrusted data: ``hutch ls/info/show`` on hostile stores.

Inspecting a store never runs code from it (a pickle is read, not
unpickled, unless ``--unpickle`` says so), and its memory and time do not
grow with what a value would expand to: a compression bomb, a zip entry
that claims gigabytes, a FIFO, a value nested 100,000 deep, a dangling
link.  Reading never writes: a SQLite file whose writer was killed keeps
its bytes and its ``-wal``/``-shm``, and stores in a folder the user can't
write (a read-only mount, another user's folder) can be read.

Peak memory is measured in a child process (its ``VmHWM``) that is also
limited in address space and time, so a regression fails the test rather
than the machine.
"""

from __future__ import annotations

import hashlib
import os
import pprint
import shelve
import signal
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hutch import DirectoryStash, ShelveStash, SqliteStash, get_serializer

from .procs import run_limited
from .stashes import record

MIB = 1 << 20
NOBODY = 65534


def hutch(*argv: str, user: int | None = None,
          timeout: float = 60) -> tuple[int, str, str, int]:
    """Run ``hutch argv`` in a child of :func:`run_limited` (as ``user``
    when given): exit status, standard output, standard error, peak RSS in
    KiB."""
    code = f'''
import os, resource, sys
from hutch.cli.main import main, build_parser
if {user is not None}:
    # import what the command needs while still root: Python's own
    # files may be private to root (pyenv under /root)
    import locale, encodings.cp437, hutch.cli.kinds
    build_parser().parse_args(sys.argv[1:])
    os.setgid({user or 0}); os.setuid({user or 0})
try:
    status = main(sys.argv[1:])
finally:
    sys.stdout.flush()
    rss = peak_rss_kib()
    os.write(2, f'\\nRSS {{rss}}\\n'.encode())
sys.exit(status)
'''
    done = run_limited(code, *argv, timeout=timeout)
    err, _, rss = done.stderr.rpartition('\nRSS ')
    assert 'Traceback' not in err, err
    return done.returncode, done.stdout, err.strip(), int(rss)


def _zeros(compressor: Any, size: int) -> bytes:
    chunk = bytes(MIB)
    out = [compressor.compress(chunk) for _ in range(size // MIB)]
    out.append(compressor.flush())
    return b''.join(out)


def _bomb(codec: str, size: int = 256 * MIB) -> bytes:
    import bz2
    import zlib
    if codec == 'bz2':
        return _zeros(bz2.BZ2Compressor(9), size)
    return _zeros(zlib.compressobj(9), size)


# -- bounded memory ------------------------------------------------------------

@pytest.mark.parametrize('codec', ['bz2', 'zlib'])
def test_info_sniffs_a_compression_bomb_in_bounded_memory(
        codec: str, tmp_path: Path) -> None:
    folder = tmp_path / 'data'
    folder.mkdir()
    (folder / 'a.dat').write_bytes(_bomb(codec))
    status, out, err, rss = hutch('info', os.fspath(folder))
    assert status == 0, err
    assert f'+{codec} (sniffed from key a)' in out
    assert rss < 150 * 1024, f'{rss} KiB'
    record(f'inspect-bomb-info-{codec}', max_rss_kib=rss,
           expands_to_mib=256, stored_bytes=(folder / 'a.dat').stat().st_size)


@pytest.mark.parametrize('codec', ['bz2', 'zlib'])
def test_show_refuses_a_compression_bomb_in_bounded_memory(
        codec: str, tmp_path: Path) -> None:
    folder = tmp_path / 'data'
    folder.mkdir()
    (folder / 'a.dat').write_bytes(_bomb(codec))
    status, out, err, rss = hutch('show', os.fspath(folder), 'a')
    assert status == 1 and 'larger than 64.0 MiB' in err, err
    assert rss < 250 * 1024, f'{rss} KiB'
    record(f'inspect-bomb-show-{codec}', max_rss_kib=rss)


@pytest.fixture(scope='module')
def big_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small zip whose one entry expands to 256 MiB."""
    path = tmp_path_factory.mktemp('zip') / 'big.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED,
                         compresslevel=1) as z, z.open('big.dat', 'w') as f:
        chunk = bytes(MIB)
        for _ in range(256):
            f.write(chunk)
    return path


def test_info_of_a_zip_with_a_huge_entry_stays_small(big_zip: Path) -> None:
    status, out, err, rss = hutch('info', os.fspath(big_zip))
    assert status == 0, err
    assert rss < 150 * 1024, f'{rss} KiB'
    record('inspect-zip-info', max_rss_kib=rss, entry_mib=256,
           zip_bytes=big_zip.stat().st_size)


def test_show_of_a_zip_with_a_huge_entry_refuses_it_and_stays_small(
        big_zip: Path) -> None:
    status, out, err, rss = hutch('show', os.fspath(big_zip), 'big.dat')
    assert status == 1 and 'larger than 64.0 MiB' in err, err
    assert rss < 250 * 1024, f'{rss} KiB'
    record('inspect-zip-show', max_rss_kib=rss)


# -- things that are not files -------------------------------------------------

@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A folder stash with one good key (``b``), a FIFO (``a``) and a
    dangling link (``c``)."""
    folder = tmp_path / 'data'
    DirectoryStash(folder).dump('b', {'fine': True})
    os.mkfifo(folder / 'a.dat')
    os.symlink(tmp_path / 'nowhere', folder / 'c.dat')
    return folder


def test_info_of_a_folder_with_a_fifo_and_a_dangling_link_ends(
        planted: Path) -> None:
    status, out, err, _ = hutch('info', os.fspath(planted), timeout=30)
    assert status == 0, err
    assert 'keys        1' in out  # a FIFO or a link is no key's file
    assert 'bytes in 1 file)' in out  # only b.dat is a regular file


def test_check_of_a_folder_with_a_fifo_and_a_dangling_link_names_each_once(
        planted: Path) -> None:
    status, out, err, _ = hutch('check', '--values', os.fspath(planted),
                                timeout=30)
    assert status == 1, err
    assert out.count('not a regular file: ') == 2, out
    assert 'a.dat' in out and 'c.dat' in out and 'unreadable' not in out


def test_show_of_a_fifo_key_fails_at_once_naming_it(planted: Path) -> None:
    status, _, err, _ = hutch('show', os.fspath(planted), 'a', timeout=30)
    assert status == 1 and 'a FIFO' in err and 'a.dat' in err, err


def test_a_fifo_given_as_the_path_is_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / 'pipe')
    status, _, err, _ = hutch('info', os.fspath(tmp_path / 'pipe'),
                              timeout=30)
    assert status == 1 and 'FIFO' in err, err


# -- values nested deep --------------------------------------------------------

def test_a_text_value_of_100000_brackets_shows_as_text(
        tmp_path: Path) -> None:
    value = '[' * 100_000
    DirectoryStash(tmp_path / 'd', serializer='text').dump('k', value)
    status, out, err, _ = hutch('info', os.fspath(tmp_path / 'd'))
    assert status == 0 and 'serializer  text (sniffed' in out, (out, err)
    status, out, err, _ = hutch('show', os.fspath(tmp_path / 'd'), 'k')
    assert status == 0 and out == repr(value) + '\n', err


def test_a_long_text_value_that_starts_like_json_shows_as_text(
        tmp_path: Path) -> None:
    """The sniffer sees the first MiB only; ``show`` finds out."""
    value = '[' * (3 * MIB)
    DirectoryStash(tmp_path / 'd', serializer='text').dump('k', value)
    status, out, err, _ = hutch('show', os.fspath(tmp_path / 'd'), 'k')
    assert status == 0 and out == repr(value) + '\n', err


def _deep_pickle(depth: int) -> bytes:
    """A list nested ``depth`` deep, as pickle opcodes (pickle.dumps itself
    would overflow the stack)."""
    return (b'\x80\x04' + b']' * depth + b'a' * (depth - 1) + b'.')


@pytest.mark.parametrize('unpickle', [False, True], ids=['read', 'unpickle'])
def test_a_pickle_nested_100000_deep_shows_cut_at_a_depth(
        unpickle: bool, tmp_path: Path) -> None:
    folder = tmp_path / 'd'
    folder.mkdir()
    (folder / 'k.dat').write_bytes(_deep_pickle(100_000))
    extra = ['--unpickle'] if unpickle else []
    status, out, err, _ = hutch('show', *extra, os.fspath(folder), 'k')
    assert status == 0, err
    assert out.count('[') == 100 and '...' in out
    status, _, err, _ = hutch('show', '--json', *extra, os.fspath(folder), 'k')
    assert status == 1 and 'no JSON form' in err, err


def test_a_pickle_of_shared_lists_shows_in_bounded_output(
        tmp_path: Path) -> None:
    """Each list holds the one before twice: 2**60 items when printed."""
    value: list[Any] = [0]
    for _ in range(60):
        value = [value, value]
    DirectoryStash(tmp_path / 'd').dump('k', value)
    status, out, err, rss = hutch('show', os.fspath(tmp_path / 'd'), 'k')
    assert status == 0, err
    assert out.endswith('... (cut at 4,194,304 characters)\n')
    assert rss < 250 * 1024


# -- never runs code -----------------------------------------------------------

class _Trap:
    """Unpickles by creating :attr:`marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def _plant_directory(home: Path, data: bytes) -> Path:
    DirectoryStash(home, serializer='bytes').dump('k', data)
    return home


def _plant_sqlite(home: Path, data: bytes) -> Path:
    stash = SqliteStash(home / 'db.sqlite3', serializer='bytes')
    stash.dump('k', data)
    stash.close()
    return home / 'db.sqlite3'


def _plant_shelve(home: Path, data: bytes) -> Path:
    stash = ShelveStash(home / 'shelf', serializer='bytes')
    stash.dump('k', data)
    stash.close()
    return home / 'shelf'


def _plant_zip(home: Path, data: bytes) -> Path:
    home.mkdir()
    with zipfile.ZipFile(home / 'data.zip', 'w') as z:
        z.writestr('k', data)
    return home / 'data.zip'


PLANTERS: dict[str, Callable[[Path, bytes], Path]] = {
    'directory': _plant_directory, 'sqlite': _plant_sqlite,
    'shelve': _plant_shelve, 'zip': _plant_zip}


@pytest.mark.parametrize('codec', ['', '+zlib'])
@pytest.mark.parametrize('kind', PLANTERS, ids=str)
def test_show_never_runs_a_planted_pickle_unless_asked(
        kind: str, codec: str, tmp_path: Path) -> None:
    marker = tmp_path / 'pwned'
    data = get_serializer('pickle' + codec).dumps(_Trap(marker))
    path = PLANTERS[kind](tmp_path / 'home', data)
    for command in (['ls', '-l'], ['info'], ['show'], ['show', '--json']):
        extra = ['k'] if command[0] == 'show' else []
        status, out, err, _ = hutch(*command, os.fspath(path), *extra)
        assert not marker.exists(), command
        if command == ['show']:
            assert status == 0, err
            assert out.startswith('pathlib.Path.touch(pathlib.PosixPath(')
    status, _, err, _ = hutch('show', '--unpickle', os.fspath(path), 'k')
    assert status == 0 and marker.exists(), err
    record('inspect-never-unpickles', stores=1)


# -- errors that say what is wrong ---------------------------------------------

def test_ls_long_of_a_zip_entry_dated_month_0_shows_no_time(
        tmp_path: Path) -> None:
    path = tmp_path / 'odd.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr(zipfile.ZipInfo('k', date_time=(1980, 0, 0, 0, 0, 0)), b'x')
    status, out, err, _ = hutch('ls', '-l', os.fspath(path))
    assert status == 0, err
    assert out.split() == ['1', '-', 'k']


def test_an_unparsable_shelf_is_called_damaged_not_missing(
        tmp_path: Path) -> None:
    with shelve.open(os.fspath(tmp_path / 'shelf')) as s:
        s['k'] = 1
    index = next(p for p in tmp_path.iterdir() if p.suffix == '.dir')
    index.write_bytes(b'\x00\xff garbage \x00' * 10)
    for command in ('ls', 'info'):
        status, _, err, _ = hutch(command, os.fspath(tmp_path / 'shelf'))
        assert status == 1, err
        # it says what is wrong with the shelf, not that it is missing
        assert 'no such file or folder' not in err, err
        assert 'unreadable' in err or 'damaged shelf index' in err, err


# -- reading never writes ------------------------------------------------------

def _killed_writer(path: Path) -> None:
    """A SQLite stash whose writer was killed: its WAL holds the data."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child is killed
        stash = SqliteStash(path)
        for i in range(50):
            stash.dump(f'k{i}', i)
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reading_a_sqlite_stash_whose_writer_was_killed_changes_nothing(
        tmp_path: Path) -> None:
    db = tmp_path / 'db.sqlite3'
    _killed_writer(db)
    wal, shm = Path(f'{db}-wal'), Path(f'{db}-shm')
    before = (_digest(db), _digest(wal))
    for command in (['ls'], ['ls', '-l'], ['info'], ['show']):
        extra = ['k7'] if command[0] == 'show' else []
        status, out, err, _ = hutch(*command, os.fspath(db), *extra)
        assert status == 0, err
        assert wal.exists() and shm.exists(), command
        assert (_digest(db), _digest(wal)) == before, command
    assert hutch('ls', os.fspath(db))[1].split() == \
        sorted((f'k{i}' for i in range(50)), key=lambda k: int(k[1:]))


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder others may enter (pytest's own are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix='hutch-shared-'))
    folder.chmod(0o755)
    yield folder
    for p in [folder, *folder.rglob('*')]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    subprocess.run(['rm', '-rf', os.fspath(folder)], check=True)


def _read_only(folder: Path) -> None:
    for p in folder.rglob('*'):
        if not p.is_symlink():
            p.chmod(0o555 if p.is_dir() else 0o444)
    folder.chmod(0o555)


@pytest.mark.parametrize('killed', [False, True], ids=['closed', 'killed'])
def test_hutch_reads_a_sqlite_stash_in_a_folder_it_cannot_write(
        killed: bool, shared: Path) -> None:
    db = shared / 'store' / 'db.sqlite3'
    if killed:
        _killed_writer(db)
    else:
        stash = SqliteStash(db)
        for i in range(50):
            stash.dump(f'k{i}', i)
        stash.close()
    _read_only(shared / 'store')
    for command in (['ls'], ['info'], ['show']):
        extra = ['k7'] if command[0] == 'show' else []
        status, out, err, _ = hutch(*command, os.fspath(db), *extra,
                                    user=NOBODY)
        assert status == 0, (command, err)
    assert out == '7\n'


def test_hutch_reads_folder_and_zip_stashes_it_cannot_write(
        shared: Path) -> None:
    DirectoryStash(shared / 'store' / 'dir').dump('k', [1])
    _plant_zip(shared / 'store' / 'z', b'\x80\x05K\x07.')
    _read_only(shared / 'store')
    for path in (shared / 'store' / 'dir', shared / 'store' / 'z' / 'data.zip'):
        for command in (['ls', '-l'], ['info'], ['show']):
            extra = ['k'] if command[0] == 'show' else []
            status, _, err, _ = hutch(*command, os.fspath(path), *extra,
                                      user=NOBODY)
            assert status == 0, (path, command, err)


_LOAD_AS_NOBODY = '''
    import os, sys
    from hutch import PersistableError, SqliteStash
    os.setgid(65534); os.setuid(65534)
    stash = SqliteStash(sys.argv[1])
    print(stash.load('k7'), len(stash), stash.exists('k8'))
    try:
        stash.dump('new', 1)
    except PersistableError as e:
        print('dump refused:', e)
'''


@pytest.mark.parametrize('killed', [False, True], ids=['closed', 'killed'])
def test_sqlite_stash_loads_in_a_folder_it_cannot_write(
        killed: bool, shared: Path) -> None:
    db = shared / 'store' / 'db.sqlite3'
    if killed:
        _killed_writer(db)
    else:
        stash = SqliteStash(db)
        for i in range(50):
            stash.dump(f'k{i}', i)
        stash.close()
    _read_only(shared / 'store')
    files = sorted(os.listdir(shared / 'store'))
    done = subprocess.run([sys.executable, '-c',
                           textwrap.dedent(_LOAD_AS_NOBODY), os.fspath(db)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == '7 50 True'
    assert second.startswith('dump refused:') and 'new' in second
    assert sorted(os.listdir(shared / 'store')) == files
    record('inspect-read-only-sqlite', cases=1)


def test_a_pickle_read_without_running_shows_plain_data_as_python_would(
        tmp_path: Path) -> None:
    value = {'s': 'x', 'n': [1, 2.5, -3, 10**30], 't': (None, True),
             'b': b'\x00', 'set': {1}, 'fs': frozenset(), 'e': {}}
    DirectoryStash(tmp_path / 'd').dump('k', value)
    status, out, err, _ = hutch('show', os.fspath(tmp_path / 'd'), 'k')
    assert status == 0, err
    assert out == pprint.pformat(value, width=100, sort_dicts=False) + '\n'


@pytest.fixture
def read_only_mount(shared: Path) -> Iterator[Path]:
    """``shared / 'store'`` as a read-only bind mount (root can't write it
    either); skipped where this process may not mount."""
    store = shared / 'store'
    store.mkdir()
    yield store
    subprocess.run(['umount', os.fspath(store)], capture_output=True)


def _mount_read_only(store: Path) -> None:
    for args in (['mount', '--bind', os.fspath(store), os.fspath(store)],
                 ['mount', '-o', 'remount,bind,ro', os.fspath(store)]):
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f'cannot mount here: {done.stderr.strip()}')


def test_hutch_reads_every_kind_of_stash_on_a_read_only_mount(
        read_only_mount: Path) -> None:
    store = read_only_mount
    DirectoryStash(store / 'dir').dump('k', [1])
    _plant_zip(store / 'z', b'\x80\x05K\x07.')
    _plant_sqlite(store / 'clean', b'\x80\x05K\x07.')
    _killed_writer(store / 'killed' / 'db.sqlite3')
    _mount_read_only(store)
    with pytest.raises(OSError):
        (store / 'probe').write_bytes(b'')
    paths = {'dir': store / 'dir', 'zip': store / 'z' / 'data.zip',
             'sqlite': store / 'clean' / 'db.sqlite3',
             'sqlite-killed': store / 'killed' / 'db.sqlite3'}
    for name, path in paths.items():
        key = 'k7' if name == 'sqlite-killed' else 'k'
        for command in (['ls', '-l'], ['info'], ['show']):
            extra = [key] if command[0] == 'show' else []
            status, out, err, _ = hutch(*command, os.fspath(path), *extra)
            assert status == 0, (name, command, err)
        assert out in ('[1]\n', '7\n'), (name, out)
    record('inspect-read-only-mount', stores=len(paths))
