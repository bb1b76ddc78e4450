"""Untrusted folders: what a hostile neighbour can plant where a stash reads.

Reading a store must stay inside its folder, end, and stay small, whatever
sits there: a FIFO or a device where a value's file should be, a symbolic
link out of the folder (as a key's file or as a shard folder), a folder
where a file should be, a long key's header that claims gigabytes, or a
zip entry that expands to far more than the archive holds.  Each
gets a :class:`~hutch.PersistableError` naming the key and the file -- never
a hang, a read outside, or a ``MemoryError`` -- and ``clear()`` never
deletes a file outside the stash.

Every case runs in a child process with a time limit and an address-space
limit, so a regression fails the test instead of hanging it or eating the
machine's memory.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest

from hutch import PersistableError
from hutch.stash.directory import DirectoryStash

from .procs import run_limited
from .stashes import record


def run_isolated(code: str, *args: str) -> str:
    """Standard output of ``code`` run by :func:`run_limited` (it must
    exit 0)."""
    done = run_limited(code, *args, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- a key's file that is not a regular file ---------------------------------

def _fifo(file: Path, outside: Path) -> None:
    os.mkfifo(file)


def _dev_zero(file: Path, outside: Path) -> None:
    os.symlink('/dev/zero', file)


def _link_out(file: Path, outside: Path) -> None:
    os.symlink(outside, file)


def _dangling(file: Path, outside: Path) -> None:
    os.symlink(outside.parent / 'nowhere', file)


PLANTS = {'fifo': _fifo, 'dev-zero': _dev_zero, 'symlink-out': _link_out,
          'dangling-symlink': _dangling}

_LOAD = '''
    import sys
    from hutch import PersistableError
    from hutch.stash.directory import DirectoryStash
    stash = DirectoryStash(sys.argv[1], shard=int(sys.argv[2]))
    try:
        value = stash.load('a')
    except PersistableError as e:
        print(type(e).__name__, repr(e.key), e.path, '|', e)
    else:
        print('loaded', repr(value)[:60])
'''


@pytest.mark.parametrize('shard', [0, 4], ids=['flat', 'shard4'])
@pytest.mark.parametrize('plant', PLANTS.values(), ids=PLANTS.keys())
def test_a_planted_non_file_fails_load_with_an_error_naming_key_and_file(
        plant: object, shard: int, tmp_path: Path) -> None:
    secret = tmp_path / 'secret.dat'
    secret.write_bytes(b'\x80\x05\x95\x0a\x00\x00\x00\x00\x00\x00\x00'
                       b'\x8c\x06secret\x94.')
    stash = DirectoryStash(tmp_path / 'data', shard=shard)
    stash.dump('a', 'harmless')
    file = stash.key_to_path('a')
    file.unlink()
    plant(file, secret)  # type: ignore[operator]
    out = run_isolated(_LOAD, os.fspath(stash.path), str(shard))
    assert out.startswith("ForeignFileError 'a' " + os.fspath(file)), out
    assert 'secret' not in out
    record('untrusted-planted-file', cases=1)


def test_a_folder_in_place_of_a_key_is_absent_to_every_call(
        tmp_path: Path) -> None:
    """A folder is never a key (``keys()`` leaves folders out): ``load``,
    ``get``, ``exists`` and ``delete`` agree, and the folder stays."""
    stash = DirectoryStash(tmp_path / 'data')
    stash.dump('a', 1)
    file = stash.key_to_path('a')
    file.unlink()
    file.mkdir()
    (file / 'inside').write_bytes(b'kept')
    assert stash.load('a') is None and stash.get('a', 'no') == 'no'
    assert not stash.exists('a') and list(stash.keys()) == []
    with pytest.raises(KeyError):
        stash['a']
    stash.delete('a')
    stash.clear()
    assert (file / 'inside').read_bytes() == b'kept'


def test_deleting_a_symlinked_key_removes_the_link_not_its_target(
        tmp_path: Path) -> None:
    target = tmp_path / 'keep.dat'
    target.write_bytes(b'precious')
    stash = DirectoryStash(tmp_path / 'data')
    stash.dump('a', 1)
    stash.key_to_path('a').unlink()
    stash.key_to_path('a').symlink_to(target)
    stash.delete('a')
    assert not os.path.lexists(stash.key_to_path('a'))
    assert target.read_bytes() == b'precious'


def test_a_large_legitimate_value_still_loads(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'data', serializer='bytes')
    value = os.urandom(3 << 20)
    stash.dump('big', value)
    assert stash.load('big') == value


# -- long keys ---------------------------------------------------------------

def _long_key_file(stash: DirectoryStash) -> Path:
    """A file named as a long key is, whose header claims a 4 GiB key."""
    key = 'k' * 400
    stash.dump(key, 'v')
    file = stash.key_to_path(key)
    header = b'\x00hutch-long-key\x00'
    file.write_bytes(header + struct.pack('>I', 0xFFFFFFF0) + b'kk')
    return file


_KEYS = '''
    import resource, sys
    from hutch.stash.directory import DirectoryStash
    stash = DirectoryStash(sys.argv[1])
    print(sorted(stash.keys()), len(stash), stash.exists('k' * 400))
    print(peak_rss_kib())
'''


def test_a_crafted_long_key_header_is_not_a_key_and_costs_no_memory(
        tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'data')
    stash.dump('plain', 1)
    _long_key_file(stash)
    listing, rss = run_isolated(_KEYS, os.fspath(stash.path)).splitlines()
    assert listing == "['plain'] 1 False"
    assert int(rss) < 200_000, f'{rss} KiB'
    record('untrusted-long-key-header', max_rss_kib=int(rss))


def test_a_fifo_named_as_a_long_key_does_not_hang_keys(
        tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'data')
    stash.dump('plain', 1)
    file = _long_key_file(stash)
    file.unlink()
    os.mkfifo(file)
    listing = run_isolated(_KEYS, os.fspath(stash.path)).splitlines()[0]
    assert listing == "['plain'] 1 False"


# -- a shard folder replaced by a symbolic link ------------------------------

def _shard_linked_out(tmp_path: Path) -> tuple[DirectoryStash, Path, str]:
    """A sharded stash one of whose shard folders is a link to ``victim``."""
    stash = DirectoryStash(tmp_path / 'data', shard=4)
    for i in range(20):
        stash.dump(f'k{i}', i)
    shard = stash.key_to_path('k0').parent
    victim = tmp_path / 'victim'
    victim.mkdir()
    for name in os.listdir(shard):  # the same names, someone else's files
        (victim / name).write_bytes(b'not yours')
        os.unlink(shard / name)
    shard.rmdir()
    shard.symlink_to(victim)
    return stash, victim, shard.name


def test_clear_never_deletes_through_a_symlinked_shard_folder(
        tmp_path: Path) -> None:
    stash, victim, name = _shard_linked_out(tmp_path)
    before = sorted(os.listdir(victim))
    stash.clear()
    assert sorted(os.listdir(victim)) == before
    assert all((victim / n).read_bytes() == b'not yours' for n in before)
    # everything of the stash's own is gone; the link is left as found
    assert os.listdir(stash.path) == [name]
    record('untrusted-symlinked-shard', files_kept=len(before))


def test_keys_and_load_ignore_a_symlinked_shard_folder(
        tmp_path: Path) -> None:
    stash, victim, _ = _shard_linked_out(tmp_path)
    assert 'k0' not in stash.keys()
    with pytest.raises(PersistableError) as info:
        stash.load('k0')
    assert info.value.key == 'k0' and 'link' in str(info.value)


def test_dump_never_writes_through_a_symlinked_shard_folder(
        tmp_path: Path) -> None:
    stash, victim, _ = _shard_linked_out(tmp_path)
    before = sorted(os.listdir(victim))
    with pytest.raises(PersistableError) as info:
        stash.dump('k0', 'new')
    assert info.value.key == 'k0' and 'link' in str(info.value)
    assert sorted(os.listdir(victim)) == before


# -- a crafted zip -------------------------------------------------------------

_ZIP_LOAD = '''
    import sys
    from hutch import CorruptDataError, ZipStash
    try:
        value = ZipStash(sys.argv[1]).load('bomb.dat')
        print('read', len(value))
    except CorruptDataError as e:
        print(type(e).__name__, repr(e.key), e.path)
    print(peak_rss_kib())
'''


def test_a_zip_entry_that_expands_to_256_mib_is_refused_in_little_memory(
        tmp_path: Path) -> None:
    path = tmp_path / 'bomb.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED,
                         compresslevel=1) as z, z.open('bomb.dat', 'w') as f:
        chunk = bytes(1 << 20)
        for _ in range(256):
            f.write(chunk)
    said, rss = run_isolated(_ZIP_LOAD, os.fspath(path)).splitlines()
    assert said == f"CorruptDataError 'bomb.dat' {path}"
    assert int(rss) < 100_000, f'{rss} KiB'
    record('untrusted-zip-bomb-load', max_rss_kib=int(rss), entry_mib=256,
           zip_bytes=path.stat().st_size)
