"""What a folder stash on object storage guarantees beyond the contract."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

from hutch import (
    CorruptDataError,
    DirectoryStash,
    IncrementKeyDirectoryStash,
    PersistableError,
)

from ..test_keys import TRICKY
from .conftest import BUCKET, S3Server


class CountingMemoryFileSystem(MemoryFileSystem):
    """memory:// that counts the objects it hands out whole or in part."""

    protocol = 'hutchcount'
    reads = 0

    def cat_file(self, path: str, *args: Any, **kwargs: Any) -> Any:
        type(self).reads += 1
        return super().cat_file(path, *args, **kwargs)


class PlainMemoryFileSystem(MemoryFileSystem):
    """memory:// under a protocol hutch knows nothing of: no atomic PUT and
    no exclusive create are assumed of it."""

    protocol = 'hutchplain'


pytestmark = pytest.mark.filterwarnings(
    'ignore:UPath .* not explicitly implemented:UserWarning')

fsspec.register_implementation('hutchcount', CountingMemoryFileSystem,
                               clobber=True)
fsspec.register_implementation('hutchplain', PlainMemoryFileSystem,
                               clobber=True)


@pytest.fixture
def s3(s3_url: str, s3_server: S3Server) -> DirectoryStash:
    return DirectoryStash(s3_url, storage_options=s3_server.storage_options)


@pytest.fixture
def counting(memory_url: str) -> DirectoryStash:
    return DirectoryStash(memory_url.replace('memory://', 'hutchcount://'))


# -- keys and names ----------------------------------------------------------

def test_hostile_keys_round_trip_and_stay_under_the_prefix(
        s3: DirectoryStash, s3_server: S3Server) -> None:
    for i, key in enumerate(TRICKY):
        s3.dump(key, i)
    assert sorted(s3.keys()) == sorted(TRICKY)
    assert {k: s3.load(k) for k in TRICKY} == {k: i for i, k in enumerate(TRICKY)}
    root = s3.url[len('s3://'):]
    found = s3_server.raw_fs().find(f'{BUCKET}')
    mine = [p for p in found if p.startswith(root + '/')]
    assert len(mine) == len(TRICKY)
    assert all('/' not in p[len(root) + 1:] for p in mine)


def test_file_names_are_those_of_a_local_folder(
        memory_url: str, tmp_path: Any) -> None:
    remote, local = DirectoryStash(memory_url), DirectoryStash(tmp_path)
    for key in ('plain', 'a/b', '..', 'é'):
        assert remote.key_to_path(key).name == local.key_to_path(key).name


def test_keys_list_many_objects_without_reading_one(
        counting: DirectoryStash) -> None:
    fs = fsspec.filesystem('hutchcount')
    root = fs._strip_protocol(counting.url)
    for i in range(100_000):  # written by hand: the listing is the point
        path = f'{root}/{i}.dat'
        fs.store[path] = MemoryFile(fs, path, b'')
    CountingMemoryFileSystem.reads = 0
    keys = counting.keys()
    assert len(keys) == 100_000 and set(keys) == {str(i) for i in range(100_000)}
    assert CountingMemoryFileSystem.reads == 0


def test_exists_reads_no_value(counting: DirectoryStash) -> None:
    counting.dump('a', list(range(1000)))
    CountingMemoryFileSystem.reads = 0
    assert counting.exists('a') and not counting.exists('b')
    assert 'a' in counting
    assert CountingMemoryFileSystem.reads == 0


def test_a_second_process_writes_show_in_the_next_listing(
        s3: DirectoryStash, s3_server: S3Server) -> None:
    s3.dump('mine', 1)
    assert s3.keys() == ['mine']
    assert not s3.exists('theirs')
    code = ('import sys, pickle\nfrom hutch import DirectoryStash\n'
            's = pickle.loads(sys.stdin.buffer.read())\n'
            "s.dump('theirs', 2); s.delete('mine')\n")
    subprocess.run([sys.executable, '-c', code], input=pickle.dumps(s3),
                   check=True, timeout=60)
    assert s3.keys() == ['theirs']
    assert s3.exists('theirs') and not s3.exists('mine')
    assert s3.load('theirs') == 2 and s3.load('mine') is None


def test_clear_leaves_a_sibling_prefix_alone(s3_server: S3Server) -> None:
    options = s3_server.storage_options
    url = f's3://{BUCKET}/clear-me'
    stash = DirectoryStash(url, storage_options=options)
    sibling = DirectoryStash(url + '2', storage_options=options)
    inner = DirectoryStash(url + '/sub', storage_options=options)
    for s in (stash, sibling, inner):
        s.dump('k', 1)
    s3_server.raw_fs().pipe_file(f'{BUCKET}/clear-me/notes.txt', b'mine')
    stash.clear()
    assert stash.keys() == [] and sibling.keys() == ['k']
    assert inner.keys() == ['k']
    assert s3_server.raw_fs().cat_file(f'{BUCKET}/clear-me/notes.txt') == b'mine'


# -- values ----------------------------------------------------------------

def test_large_arrays_round_trip(s3: DirectoryStash) -> None:
    value = {'a': np.arange(1_000_000, dtype=np.float64), 'b': b'x' * 100}
    s3.dump('big', value)
    back = s3.load('big')
    assert np.array_equal(back['a'], value['a']) and back['b'] == value['b']


def test_mmap_needs_a_local_folder(memory_url: str) -> None:
    with pytest.raises(ValueError, match='mmap'):
        DirectoryStash(memory_url, mmap=True)


def test_storage_options_are_for_urls(tmp_path: Any) -> None:
    with pytest.raises(TypeError, match='storage_options'):
        DirectoryStash(tmp_path, storage_options={'anon': True})


def test_an_unreadable_object_names_the_key_and_url(
        s3: DirectoryStash, s3_server: S3Server) -> None:
    s3_server.raw_fs().pipe_file(f'{s3.url}/bad.dat', b'not a pickle')
    with pytest.raises(CorruptDataError) as info:
        s3.load('bad')
    assert info.value.key == 'bad'
    assert info.value.path == f'{s3.url}/bad.dat'
    assert f'{s3.url}/bad.dat' in str(info.value)


def test_on_error_missing_treats_an_unreadable_object_as_absent(
        memory_url: str) -> None:
    stash = DirectoryStash(memory_url, on_error='missing')
    fsspec.filesystem('memory').pipe_file(f'{memory_url}/bad.dat', b'junk')
    assert stash.load('bad') is None and 'bad' in stash.keys()


def test_a_file_system_without_atomic_put_writes_a_temporary_then_moves(
        memory_url: str) -> None:
    url = memory_url.replace('memory://', 'hutchplain://')
    stash = DirectoryStash(url)
    stash.dump('k', [1, 2])
    fs = fsspec.filesystem('hutchplain')
    root = fs._strip_protocol(url)
    assert fs.ls(root, detail=False) == [f'{root}/k.dat']
    assert stash.load('k') == [1, 2]
    assert not stash.multihost


def test_unpickled_stash_reconnects(s3: DirectoryStash) -> None:
    s3.dump('k', 1)
    again = pickle.loads(pickle.dumps(s3))
    assert type(again) is type(s3) and again.load('k') == 1
    assert again.storage_options == s3.storage_options


def test_capabilities_say_where_the_data_lives(
        s3: DirectoryStash, memory_url: str) -> None:
    assert s3.shareable and s3.multihost
    memory = DirectoryStash(memory_url)
    assert not memory.shareable and not memory.multihost


# -- bulk --------------------------------------------------------------------

def test_load_many_and_dump_many(s3: DirectoryStash) -> None:
    s3.dump_many({f'k{i}': i for i in range(50)} | {'none': None})
    assert len(s3.keys()) == 51
    got = s3.load_many(['k3', 'absent', 'none', 'k1'])
    assert got == {'k3': 3, 'none': None, 'k1': 1}
    assert list(got) == ['k3', 'none', 'k1']


def test_dump_many_writes_nothing_when_a_value_cannot_be_serialized(
        s3: DirectoryStash) -> None:
    with pytest.raises(PersistableError):
        s3.dump_many([('a', 1), ('b', lambda: 0)])
    assert s3.keys() == []


# -- increment keys ------------------------------------------------------------

def _claim(args: tuple[bytes, int]) -> list[tuple[int, int]]:
    blob, n = args
    stash = pickle.loads(blob)
    values = [(os.getpid(), i) for i in range(n)]
    for value in values:
        stash.dump(value)
    return values


def test_increment_keys_are_handed_out_once_across_processes(
        s3_url: str, s3_server: S3Server) -> None:
    import multiprocessing

    stash = IncrementKeyDirectoryStash(
        s3_url, storage_options=s3_server.storage_options)
    blob = pickle.dumps(stash)
    with multiprocessing.get_context('spawn').Pool(2) as pool:
        written = pool.map(_claim, [(blob, 10)] * 2)
    # a key handed out twice would lose one of its two values
    keys = stash.keys()
    assert sorted(keys, key=int) == [str(i) for i in range(1, 21)]
    assert sorted(stash.load(k) for k in keys) == \
        sorted(v for values in written for v in values)


def test_increment_keys_skip_a_number_taken_meanwhile(memory_url: str) -> None:
    first = IncrementKeyDirectoryStash(memory_url)
    second = IncrementKeyDirectoryStash(memory_url)
    first.dump('a')
    second.dump('b')   # it sees key 1 and takes 2
    first.dump('c')    # 2 is taken: it takes 3
    assert {k: first.load(k) for k in first.keys()} == \
        {'1': 'a', '2': 'b', '3': 'c'}


def test_increment_keys_refuse_a_file_system_without_exclusive_create(
        memory_url: str) -> None:
    url = memory_url.replace('memory://', 'hutchplain://')
    stash = IncrementKeyDirectoryStash(url)
    with pytest.raises(PersistableError, match='exclusive create'):
        stash.dump('value')
    assert stash.keys() == []
    stash.dump('7', 'by its own key')
    assert stash.load('7') == 'by its own key'


def test_a_upath_carries_its_storage_options(
        s3_url: str, s3_server: S3Server) -> None:
    from upath import UPath

    from hutch import DirectoryCompositeStash

    folder = UPath(s3_url, **s3_server.storage_options)
    stash = DirectoryStash(folder / 'plain')
    stash.dump('k', 1)
    assert DirectoryStash(f'{s3_url}/plain', storage_options=s3_server.
                          storage_options).load('k') == 1
    composite = DirectoryCompositeStash(folder / 'parts', [{'a'}, {'b'}], 'f')
    assert str(composite.group_path({'a'})).startswith(f'{s3_url}/parts/comp')
    assert stash.check(values=True).problems == []
