"""DirectoryStash: the contract, plus what a folder of files must guarantee."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    CorruptDataError,
    DirectoryStash,
    IncrementKeyDirectoryStash,
    PersistableError,
    Stash,
    get_serializer,
)
from hutch.testing import StorageContract, WriteContract

from .test_keys import TRICKY

MP = multiprocessing.get_context(
    'fork' if 'fork' in multiprocessing.get_all_start_methods() else 'spawn')
WAIT = 60.0


class TestDirectoryStash(StorageContract):
    """Checked against plain pickle files, one per key, named ``KEY.dat``."""

    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryStash(tmp_path / 'stash')

    def write_directly(self, stash: Stash, key: str, value: Any) -> None:
        assert isinstance(stash, DirectoryStash)
        stash.path.mkdir(exist_ok=True)
        (stash.path / f'{key}.dat').write_bytes(pickle.dumps(value))

    def read_directly(self, stash: Stash) -> dict[str, Any]:
        assert isinstance(stash, DirectoryStash)
        files = stash.path.glob('*.dat') if stash.path.exists() else ()
        return {f.name[:-len('.dat')]: pickle.loads(f.read_bytes())
                for f in files}


class TestShardedDirectoryStash(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryStash(tmp_path / 'stash', shard=16)


class TestDirectoryStashJsonZlib(WriteContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return DirectoryStash(tmp_path / 'stash', pattern='{name}.json.z',
                              serializer='json+zlib')


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / 'stash'


@pytest.fixture
def stash(folder: Path) -> DirectoryStash:
    return DirectoryStash(folder)


def _files_under(top: Path) -> list[Path]:
    return sorted(Path(d, f) for d, _, fs in os.walk(top) for f in fs)


# -- files and names ----------------------------------------------------------

def test_default_files_are_plain_pickles_named_by_key(
        stash: DirectoryStash, folder: Path) -> None:
    stash.dump('item-1', {'a': [1, 2]})
    assert os.listdir(folder) == ['item-1.dat']
    with open(folder / 'item-1.dat', 'rb') as f:
        assert pickle.load(f) == {'a': [1, 2]}


def test_a_pickle_written_by_other_code_is_loaded(
        stash: DirectoryStash, folder: Path) -> None:
    folder.mkdir()
    with open(folder / 'old.dat', 'wb') as f:
        pickle.dump(('from', 'elsewhere'), f)
    assert stash.load('old') == ('from', 'elsewhere')
    assert list(stash.keys()) == ['old']


def test_pattern_names_the_files(folder: Path) -> None:
    stash = DirectoryStash(folder, pattern='rec-{name}.pkl')
    stash.dump('7', 'seven')
    assert os.listdir(folder) == ['rec-7.pkl']
    assert list(stash.keys()) == ['7']


def test_pattern_braces_are_literal_when_doubled(folder: Path) -> None:
    stash = DirectoryStash(folder, pattern='{{{name}}}.dat')
    stash.dump('k', 1)
    assert os.listdir(folder) == ['{k}.dat']
    assert list(stash.keys()) == ['k']


def test_pattern_may_show_a_literal_name_field(folder: Path) -> None:
    stash = DirectoryStash(folder, pattern='{{name}}-{name}.dat')
    stash.dump('k', 1)
    assert os.listdir(folder) == ['{name}-k.dat']
    assert list(stash.keys()) == ['k']


def test_setting_path_moves_the_stash(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'a')
    stash.path = tmp_path / 'b'
    stash.dump('k', 1)
    assert os.listdir(tmp_path) == ['b']
    assert stash.load('k') == 1


def test_serializer_decides_the_file_content(folder: Path) -> None:
    stash = DirectoryStash(folder, pattern='{name}.json', serializer='json')
    stash.dump('k', {'x': [1, None]})
    assert json.loads((folder / 'k.json').read_text()) == {'x': [1, None]}
    assert stash.serializer == get_serializer('json')


def test_key_to_path_gives_the_file_without_making_folders(
        stash: DirectoryStash, folder: Path) -> None:
    assert stash.key_to_path('item-1') == folder / 'item-1.dat'
    assert stash.key_to_path('a/b').parent == folder
    assert not folder.exists()


@pytest.mark.parametrize('key', TRICKY)
def test_any_str_key_round_trips_inside_the_folder(
        tmp_path: Path, folder: Path, key: str) -> None:
    stash = DirectoryStash(folder)
    stash.dump(key, ['value', key])
    assert stash.load(key) == ['value', key]
    assert stash.exists(key)
    assert list(stash.keys()) == [key]
    files = _files_under(tmp_path)
    assert len(files) == 1 and files[0].parent == folder
    stash.delete(key)
    assert not stash.exists(key) and stash.load(key) is None
    assert os.listdir(folder) == []


def test_keys_that_differ_only_in_escapes_stay_apart(
        stash: DirectoryStash) -> None:
    keys = ['a/b', 'a%2Fb', 'a%252Fb', '.a', '%2Ea', 'con', '%63on']
    for i, key in enumerate(keys):
        stash.dump(key, i)
    assert sorted(stash.keys()) == sorted(keys)
    assert [stash.load(k) for k in keys] == list(range(len(keys)))


@pytest.mark.parametrize('call', ['load', 'get', 'exists', 'delete',
                                  'key_to_path', 'dump'])
def test_a_non_str_key_raises_typeerror_naming_it(
        stash: DirectoryStash, call: str) -> None:
    args: tuple[Any, ...] = (42, 'v') if call == 'dump' else (42,)
    with pytest.raises(TypeError, match='int: 42'):
        getattr(stash, call)(*args)


# -- reads never write, listing never unpickles ------------------------------

def test_reading_a_missing_folder_creates_nothing(
        stash: DirectoryStash, folder: Path) -> None:
    assert stash.load('k') is None
    assert stash.get('k', 'd') == 'd'
    assert not stash.exists('k')
    assert list(stash.keys()) == [] and len(stash) == 0
    stash.delete('k')
    stash.clear()
    assert not folder.exists()


def test_dump_creates_missing_folders(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'a' / 'b' / 'c')
    stash.dump('k', 1)
    assert stash.load('k') == 1


def test_listing_and_existence_never_read_values(
        stash: DirectoryStash, folder: Path) -> None:
    stash.dump('good', 1)
    (folder / 'bad.dat').write_bytes(b'not a pickle')
    assert sorted(stash.keys()) == ['bad', 'good']
    assert len(stash) == 2
    assert stash.exists('bad') and 'bad' in stash


def test_a_corrupt_file_raises_naming_key_and_path(
        stash: DirectoryStash, folder: Path) -> None:
    folder.mkdir()
    (folder / 'bad.dat').write_bytes(b'\x80\x05truncated')
    with pytest.raises(CorruptDataError) as info:
        stash.load('bad')
    assert isinstance(info.value, PersistableError)
    assert info.value.key == 'bad'
    assert info.value.path == str(folder / 'bad.dat')
    assert "'bad'" in str(info.value) and 'bad.dat' in str(info.value)


def test_on_error_missing_treats_a_corrupt_file_as_absent(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    stash = DirectoryStash(folder, on_error='missing')
    folder.mkdir()
    (folder / 'bad.dat').write_bytes(b'garbage')
    with caplog.at_level(logging.WARNING, logger='hutch.stash.directory'):
        assert stash.load('bad') is None
    assert stash.get('bad', 'default') == 'default'
    with pytest.raises(KeyError):
        stash['bad']
    assert 'bad.dat' in caplog.text


def test_delete_of_a_missing_key_logs_at_debug(
        stash: DirectoryStash, caplog: pytest.LogCaptureFixture) -> None:
    stash.dump('a', 1)
    with caplog.at_level(logging.DEBUG, logger='hutch.stash.directory'):
        stash.delete('nope')
    assert "'nope'" in caplog.text
    assert list(stash.keys()) == ['a']


def test_foreign_files_and_folders_are_not_keys(
        stash: DirectoryStash, folder: Path) -> None:
    stash.dump('real', 1)
    for name in ('notes.txt', '.hidden.dat', 'x.dat.bak', 'a%2f.dat',
                 'CON.dat'):
        (folder / name).touch()
    (folder / 'sub.dat').mkdir()
    assert list(stash.keys()) == ['real']
    assert stash.load('sub') is None and not stash.exists('sub')


def test_a_symbolic_link_is_not_a_key_as_load_refuses_it(
        stash: DirectoryStash, folder: Path, tmp_path: Path) -> None:
    stash.dump('real', 1)
    outside = tmp_path / 'outside.dat'
    outside.write_bytes(pickle.dumps('secret'))
    (folder / 'link.dat').symlink_to(outside)
    with pytest.raises(PersistableError, match='symbolic link'):
        stash.load('link')
    assert not stash.exists('link') and 'link' not in stash
    assert list(stash.keys()) == ['real'] and len(stash) == 1
    (folder / 'sub').mkdir()  # the other way keys() lists a folder
    assert list(stash.keys()) == ['real']


def test_a_fifo_is_not_a_key_with_or_without_subfolders(
        stash: DirectoryStash, folder: Path) -> None:
    stash.dump('real', 1)
    os.mkfifo(folder / 'pipe.dat')
    assert list(stash.keys()) == ['real'] and not stash.exists('pipe')
    (folder / 'sub').mkdir()
    assert list(stash.keys()) == ['real']


def test_a_shard_folder_that_is_a_link_holds_no_key(tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'd', shard=16)
    stash.dump('k', 1)
    shard = stash.key_to_path('k').parent
    moved = tmp_path / 'elsewhere'
    os.replace(shard, moved)
    shard.symlink_to(moved)
    assert not stash.exists('k') and list(stash.keys()) == []



def test_keys_are_the_same_with_and_without_subfolders(
        stash: DirectoryStash, folder: Path) -> None:
    # a folder's link count changes with a subfolder: nothing may hang on it
    for key in ('a', 'b/c', '.dot', 'x' * 300):
        stash.dump(key, key)
    (folder / 'notes.txt').touch()
    flat = sorted(stash.keys())
    assert os.stat(folder).st_nlink == 2
    (folder / 'sub.dat').mkdir()
    assert sorted(stash.keys()) == flat == sorted(['a', 'b/c', '.dot', 'x' * 300])


# -- atomic writes and temporary files ---------------------------------------

def test_dump_leaves_no_temporary_file(
        stash: DirectoryStash, folder: Path) -> None:
    for i in range(20):
        stash.dump('k', i)
    assert os.listdir(folder) == ['k.dat']


def test_stale_temps_are_not_keys_and_clear_removes_them(
        stash: DirectoryStash, folder: Path) -> None:
    stash.dump('k', 1)
    stale = folder / '.k.dat.4242.0.hutch-tmp'
    stale.write_bytes(b'half writ')
    other = folder / '.z.txt.4242.0.hutch-tmp'  # not this stash's pattern
    other.touch()
    assert list(stash.keys()) == ['k']
    stash.clear()
    assert os.listdir(folder) == [other.name]


def test_clear_keeps_foreign_files(stash: DirectoryStash, folder: Path) -> None:
    stash.dump('k', 1)
    (folder / 'README').touch()
    stash.clear()
    assert os.listdir(folder) == ['README']


def test_clear_leaves_an_empty_folder(stash: DirectoryStash,
                                      folder: Path) -> None:
    for i in range(5):
        stash.dump(f'k{i}', i)
    stash.clear()
    assert folder.is_dir() and os.listdir(folder) == []


def _hammer(folder: str, char: str, n: int) -> None:
    stash = DirectoryStash(folder)
    for _ in range(n):
        stash.dump('shared', char * 200_000)


def test_readers_never_see_a_torn_value_while_processes_write(
        folder: Path) -> None:
    stash = DirectoryStash(folder)
    stash.dump('shared', 'a' * 200_000)
    writers = [MP.Process(target=_hammer, args=(str(folder), c, 60))
               for c in 'bc']
    for w in writers:
        w.start()
    try:
        for _ in range(300):
            value = stash.load('shared')
            assert len(value) == 200_000 and len(set(value)) == 1
    finally:
        for w in writers:
            w.join(WAIT)
    assert all(w.exitcode == 0 for w in writers)
    assert os.listdir(folder) == ['shared.dat']


def test_durable_dumps_round_trip(folder: Path) -> None:
    stash = DirectoryStash(folder, durable=True)
    stash.dump('k', 'v')
    assert stash.load('k') == 'v'


# -- long keys ------------------------------------------------------------------

def test_a_long_key_is_listed_loaded_and_deleted(
        stash: DirectoryStash, folder: Path) -> None:
    key = 'very/long/' * 60
    stash.dump(key, 'value')
    (name,) = os.listdir(folder)
    assert len(name.encode()) <= 255 - 45
    assert list(stash.keys()) == [key]
    assert stash.load(key) == 'value' and stash.exists(key)
    stash.delete(key)
    assert list(stash.keys()) == [] and not stash.exists(key)


def test_a_long_name_holding_another_key_is_not_that_key(
        stash: DirectoryStash, folder: Path) -> None:
    key = 'x' * 600
    stash.dump(key, 'value')
    other = 'x' * 599 + 'y'
    (name,) = os.listdir(folder)
    path = stash.key_to_path(other)
    os.rename(folder / name, path)  # as if the hashes collided
    assert stash.load(other) is None and not stash.exists(other)
    stash.delete(other)
    assert path.exists()


# -- sharding --------------------------------------------------------------------

def test_sharding_spreads_files_over_subfolders(folder: Path) -> None:
    stash = DirectoryStash(folder, shard=16)
    for i in range(100):
        stash.dump(f'item-{i}', i)
    subs = os.listdir(folder)
    assert len(subs) > 8 and all(len(s) == 1 for s in subs)
    assert sorted(stash.keys()) == sorted(f'item-{i}' for i in range(100))
    assert stash.key_to_path('item-7').parent.parent == folder


def test_shard_folder_of_a_key_is_stable_across_processes(
        folder: Path) -> None:
    code = ('import sys; from hutch import DirectoryStash; '
            'print(DirectoryStash(sys.argv[1], shard=256)'
            '.key_to_path("item-42").parent.name)')
    names = {
        subprocess.run([sys.executable, '-c', code, str(folder)],
                       env={**os.environ, 'PYTHONHASHSEED': seed},
                       capture_output=True, text=True, check=True,
                       timeout=WAIT).stdout.strip()
        for seed in ('1', '2')}
    assert names == {DirectoryStash(folder, shard=256)
                     .key_to_path('item-42').parent.name}


def test_clear_of_a_sharded_stash_leaves_an_empty_folder(folder: Path) -> None:
    stash = DirectoryStash(folder, shard=4)
    for i in range(10):
        stash.dump(str(i), i)
    stash.clear()
    assert os.listdir(folder) == []


def test_sharded_listing_ignores_files_in_the_wrong_shard(
        folder: Path) -> None:
    stash = DirectoryStash(folder, shard=4)
    stash.dump('k', 1)
    home = stash.key_to_path('k').parent
    wrong = next(folder / f'{i}' for i in range(4)
                 if folder / f'{i}' != home)
    wrong.mkdir(exist_ok=True)
    (wrong / 'k.dat').write_bytes(pickle.dumps(2))
    (folder / 'stray.dat').write_bytes(pickle.dumps(3))
    assert list(stash.keys()) == ['k']


# -- construction and pickling ------------------------------------------------

@pytest.mark.parametrize('pattern', ['{}.dat', '{name}{name}', 'x.dat',
                                     '{name}.{ext}', '{name!r}.dat',
                                     '{name:>5}.dat', 'a/{name}', '{name}\\x',
                                     '{name', 'p' * 101 + '{name}'])
def test_a_bad_pattern_raises_valueerror(folder: Path, pattern: str) -> None:
    with pytest.raises(ValueError):
        DirectoryStash(folder, pattern=pattern)


@pytest.mark.parametrize('kwargs,error', [
    ({'path': 3}, TypeError), ({'pattern': 5}, TypeError),
    ({'shard': 1}, ValueError), ({'shard': -2}, ValueError),
    ({'shard': 2.0}, TypeError), ({'on_error': 'ignore'}, ValueError),
    ({'serializer': 'yaml'}, ValueError), ({'serializer': 1}, TypeError),
])
def test_bad_arguments_raise_at_construction(
        folder: Path, kwargs: dict[str, Any], error: type) -> None:
    args = {'path': folder, **kwargs}
    with pytest.raises(error):
        DirectoryStash(**args)


@pytest.mark.parametrize('make', [DirectoryStash, IncrementKeyDirectoryStash],
                         ids=['plain', 'increment'])
def test_a_file_where_the_folder_should_be_is_refused_at_construction(
        tmp_path: Path, make: Any) -> None:
    notes = tmp_path / 'notes.txt'
    notes.write_text('mine')
    with pytest.raises(ValueError, match=f'not a folder: {notes}'):
        make(notes)
    assert notes.read_text() == 'mine'


def test_a_folder_inside_a_file_is_refused_at_construction(
        tmp_path: Path) -> None:
    notes = tmp_path / 'notes.txt'
    notes.write_text('mine')
    with pytest.raises(ValueError, match=f'not a folder: {notes}'):
        DirectoryStash(notes / 'sub')


def test_setting_path_to_a_file_is_refused(stash: DirectoryStash,
                                           tmp_path: Path) -> None:
    notes = tmp_path / 'notes.txt'
    notes.write_text('mine')
    with pytest.raises(ValueError, match='not a folder'):
        stash.path = notes


def test_a_stash_pickles_and_reaches_the_same_files(
        stash: DirectoryStash) -> None:
    stash.dump('k', 'v')
    copy = pickle.loads(pickle.dumps(stash))
    assert copy.load('k') == 'v'
    copy.dump('j', 'w')
    assert stash.load('j') == 'w'
    assert DirectoryStash.shareable


def test_str_and_path_folders_are_the_same(tmp_path: Path) -> None:
    DirectoryStash(str(tmp_path)).dump('k', 1)
    assert DirectoryStash(tmp_path).load('k') == 1


# -- IncrementKeyDirectoryStash ---------------------------------------------------

def test_dump_of_a_value_takes_the_next_integer_key(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    for value in ('a', 'b', None):
        stash.dump(value)
    assert sorted(os.listdir(folder)) == ['data-1.dat', 'data-2.dat',
                                          'data-3.dat']
    assert [stash.load(k) for k in ('1', '2', '3')] == ['a', 'b', None]
    assert stash.exists('3')


def test_name_sets_the_file_prefix(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder, name='run')
    stash.dump('x')
    assert os.listdir(folder) == ['run-1.dat']


def test_dump_with_a_key_stores_under_that_key(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    stash.dump('10', 'ten')
    stash.dump('label', None)
    assert stash.load('label') is None and stash.exists('label')
    stash.dump('eleven')
    assert stash.load('11') == 'eleven'


def test_load_without_a_key_gives_the_last(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    assert stash.load() is None
    stash.dump('first')
    stash.dump('second')
    assert stash.load() == 'second'


def test_get_last_key_reads_without_reserving(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    assert stash.get_last_key() == '0'
    assert stash.get_last_key(inc=True) == '1'
    assert stash.get_last_key(inc=True) == '1'
    stash.dump('v')
    assert stash.get_last_key() == '1'


def test_non_integer_keys_are_never_the_last(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    stash.dump('3', 'three')
    for key in ('zzz', '99x', '-5', '٣', '1e9'):
        stash.dump(key, key)
    assert stash.get_last_key() == '3'
    assert stash.load() == 'three'
    assert len(stash) == 1


def test_only_integer_keys_are_keys_as_in_the_original(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder, name='some-name')
    stash.dump('a-non-conform-key', 'data')
    assert (folder / 'some-name-a-non-conform-key.dat').is_file()
    assert (len(stash), list(stash.keys()), stash.get_last_key()) == \
        (0, [], '0')
    assert stash.load('a-non-conform-key') == 'data'
    stash.dump('newdata')
    assert (len(stash), list(stash.keys()), list(stash.values())) == \
        (1, ['1'], ['newdata'])
    assert list(stash) == [('1', 'newdata')]


def test_clear_removes_non_integer_keys_too(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    stash.dump('label', 1)
    stash.dump(2)
    stash.clear()
    assert os.listdir(folder) == []


def test_increment_dump_takes_the_next_number_with_no_lock_file(
        folder: Path, _private_lock_dir: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'data-1.dat').write_bytes(b'planted by another host')
    stash.dump('mine')
    assert stash.load('2') == 'mine'
    assert os.listdir(_private_lock_dir) == []
    assert sorted(os.listdir(folder)) == ['data-1.dat', 'data-2.dat']


def test_increment_keys_go_into_missing_shard_folders(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder, shard=4)
    for i in range(6):
        stash.dump(i)
    assert sorted(map(int, stash.keys())) == list(range(1, 7))
    assert stash.load() == 5


def test_last_key_keeps_its_stored_spelling(folder: Path) -> None:
    stash = IncrementKeyDirectoryStash(folder)
    stash.dump('007', 'bond')
    assert stash.get_last_key() == '007'
    assert stash.load() == 'bond'
    stash.dump('next')
    assert stash.load('8') == 'next'


def test_increment_stash_refuses_a_pattern(folder: Path) -> None:
    with pytest.raises(TypeError, match='pattern'):
        IncrementKeyDirectoryStash(folder, pattern='{name}.x')
    with pytest.raises(TypeError):
        IncrementKeyDirectoryStash(folder, name=3)  # type: ignore[arg-type]


def test_stash_objects_sharing_a_folder_take_distinct_keys(
        folder: Path) -> None:
    first = IncrementKeyDirectoryStash(folder)
    second = IncrementKeyDirectoryStash(folder)
    for i in range(5):
        first.dump(f'first{i}')
        second.dump(f'second{i}')
    assert sorted(map(int, first.keys())) == list(range(1, 11))
    assert first.load() == 'second4'


def _dump_values(folder: str, lock_dir: str, tag: str, n: int) -> None:
    os.environ['HUTCH_LOCK_DIR'] = lock_dir
    stash = IncrementKeyDirectoryStash(folder)
    for i in range(n):
        stash.dump(f'{tag}{i}')


def test_two_processes_never_get_the_same_key(
        folder: Path, _private_lock_dir: Path) -> None:
    procs = [MP.Process(target=_dump_values,
                        args=(str(folder), str(_private_lock_dir), tag, 50))
             for tag in 'ab']
    for p in procs:
        p.start()
    for p in procs:
        p.join(WAIT)
    assert [p.exitcode for p in procs] == [0, 0]
    stash = IncrementKeyDirectoryStash(folder)
    assert sorted(map(int, stash.keys())) == list(range(1, 101))
    values = [stash.load(k) for k in stash.keys()]
    assert sorted(values) == sorted(f'{t}{i}' for t in 'ab' for i in range(50))
    assert not any(n.startswith('.') for n in os.listdir(folder))


def test_assert_path_dir_makes_the_folder_and_its_parents(
        tmp_path: Path) -> None:
    stash = DirectoryStash(tmp_path / 'a' / 'b')
    stash.assert_path_dir()
    assert (tmp_path / 'a' / 'b').is_dir()
    stash.assert_path_dir()  # already there: nothing to do
    assert list(stash.keys()) == []
