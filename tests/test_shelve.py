"""ShelveStash and shelve(): dbm files, writeback, locking between processes."""

from __future__ import annotations

import dbm
import multiprocessing
import os
import pickle
import shelve as std_shelve
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hutch import (
    CorruptDataError,
    LockTimeoutError,
    PersistableError,
    ShelveStash,
    Stash,
    shelve,
)
from hutch.testing import WriteContract

from .processes import run_all


class ClosingContract(WriteContract):
    """Closes every stash a contract test made, when the test ends."""

    made: list[ShelveStash]

    @pytest.fixture(autouse=True)
    def _close_made(self) -> Iterator[None]:
        self.made = []
        yield
        for stash in self.made:
            stash.close()

    def build(self, stash: ShelveStash) -> Stash:
        self.made.append(stash)
        return stash


class TestShelveStash(ClosingContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return self.build(ShelveStash(tmp_path / 'shelf'))


class TestShelveStashKeptOpen(ClosingContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return self.build(ShelveStash(tmp_path / 'shelf', auto_close=False))


class TestShelveStashWithJson(ClosingContract):
    def new_empty(self, tmp_path: Path) -> Stash:
        return self.build(ShelveStash(tmp_path / 'shelf', serializer='json',
                                      writeback=False))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / 'db' / 'shelf'


def test_a_plain_shelf_reads_what_the_stash_wrote(path: Path) -> None:
    ShelveStash(path).dump('a', {'x': [1]})
    with std_shelve.open(str(path)) as shelf:
        assert shelf['a'] == {'x': [1]}


def test_the_stash_reads_a_plain_shelf(tmp_path: Path) -> None:
    with std_shelve.open(str(tmp_path / 'plain')) as shelf:
        shelf['k'] = ('made', 'by', 'shelve')
    assert ShelveStash(tmp_path / 'plain').load('k') == ('made', 'by', 'shelve')


def test_real_path_is_the_main_file_of_the_back_end(path: Path) -> None:
    stash = ShelveStash(path)
    before = stash.real_path
    assert not before.exists()
    stash.dump('a', 1)
    assert stash.real_path == before and before.is_file()
    ext = ShelveStash.get_extension()
    assert before == (path if ext is None else Path(f'{path}.{ext}'))
    assert dbm.whichdb(str(path))


def test_clear_removes_every_file_the_back_end_made(path: Path) -> None:
    stash = ShelveStash(path)
    stash.dump('a', 'small')
    stash.dump('a', 'much larger than before ' * 100)
    stash.dump('b', 2)
    stash.delete('b')  # dbm.dumb keeps a .bak of its index from here on
    assert stash.files()
    stash.clear()
    assert list(path.parent.iterdir()) == []
    assert stash.keys() == []


def test_first_access_makes_the_shelf_as_shelve_open_does(
        path: Path) -> None:
    stash = ShelveStash(path)
    assert not stash.real_path.exists()
    assert stash.load('a') is None
    assert stash.real_path == Path(f'{path}.{ShelveStash.get_extension()}')
    assert stash.real_path.exists()
    with std_shelve.open(str(path), 'r') as plain:
        assert list(plain.keys()) == []


def test_entering_a_shelve_block_makes_the_shelf(path: Path) -> None:
    with shelve(path) as stash:
        assert not stash.exists('cool')
    assert stash.real_path.exists()
    with shelve(path) as stash:
        stash.dump('cool', [1, 2, 123])
    with shelve(path) as stash:
        assert stash.load('cool') == [1, 2, 123]


@pytest.mark.parametrize('auto_close', [True, False])
def test_without_create_reads_of_a_missing_shelf_make_nothing(
        path: Path, auto_close: bool) -> None:
    stash = ShelveStash(path, create=False, auto_close=auto_close)
    assert (stash.load('a'), stash.exists('a'), stash.keys(), len(stash)) == \
        (None, False, [], 0)
    stash.close()
    assert not path.parent.exists()


def test_shelve_attribute_is_the_open_shelf(path: Path) -> None:
    stash = ShelveStash(path)
    shelf = stash.shelve
    assert isinstance(shelf, std_shelve.Shelf)
    shelf['a'] = [1]
    assert stash.shelve is shelf and stash.load('a') == [1]
    stash.close()
    assert ShelveStash(path, lock_timeout=0).load('a') == [1]


@pytest.mark.parametrize('call', ['load', 'exists', 'delete'])
def test_a_non_str_key_raises_type_error(path: Path, call: str) -> None:
    with pytest.raises(TypeError):
        getattr(ShelveStash(path), call)(b'key')


def test_dumping_under_a_non_str_key_raises_type_error(path: Path) -> None:
    with pytest.raises(TypeError):
        ShelveStash(path).dump(1, 'x')  # type: ignore[arg-type]


def test_delete_without_a_name_clears_as_in_the_original(path: Path) -> None:
    stash = ShelveStash(path)
    stash.dump('a', 1)
    stash.delete()
    assert stash.files() == []


def test_a_value_that_cannot_be_read_raises_corrupt_data_naming_the_key(
        path: Path) -> None:
    ShelveStash(path).dump('fine', 1)
    with dbm.open(str(path), 'w') as db:
        db[b'bad'] = b'not a pickle'
    with pytest.raises(CorruptDataError) as info:
        ShelveStash(path).load('bad')
    assert info.value.key == 'bad' and str(path) in str(info.value)


def test_files_no_back_end_recognizes_raise_naming_the_path(
        tmp_path: Path) -> None:
    path = tmp_path / 'shelf'
    path.write_bytes(b'\x00\x01 this is no database ' * 20)
    with pytest.raises(PersistableError) as info:
        ShelveStash(path).load('a')
    assert info.value.path == path
    assert path.read_bytes().startswith(b'\x00\x01')


def test_writeback_saves_in_place_changes_on_close(path: Path) -> None:
    with shelve(path, auto_close=False) as stash:
        stash.dump('a', [1])
        stash.load('a').append(2)
    assert ShelveStash(path).load('a') == [1, 2]


def test_sync_saves_in_place_changes_without_closing(path: Path) -> None:
    stash = ShelveStash(path, auto_close=False)
    stash.dump('a', {'n': 1})
    stash.load('a')['n'] = 2
    stash.sync()
    reader = ShelveStash(path)
    stash.close()
    assert reader.load('a') == {'n': 2}


def test_without_writeback_in_place_changes_are_not_saved(path: Path) -> None:
    with shelve(path, writeback=False, auto_close=False) as stash:
        stash.dump('a', [1])
        stash.load('a').append(2)
    assert ShelveStash(path).load('a') == [1]


def test_a_kept_open_shelf_locks_out_others_until_closed(path: Path) -> None:
    owner = ShelveStash(path, auto_close=False)
    owner.dump('a', 1)
    other = ShelveStash(path, lock_timeout=0.1)
    with pytest.raises(LockTimeoutError,
                       match=f'held by process {os.getpid()} '
                       r'\(this process\)'):
        other.load('a')
    owner.close()
    assert other.load('a') == 1


def test_the_context_manager_closes_the_shelf(path: Path) -> None:
    with shelve(path, auto_close=False) as stash:
        stash.dump('a', 1)
    assert ShelveStash(path, lock_timeout=0).load('a') == 1


def test_pickles_by_path_and_is_shareable_when_auto_closing(
        path: Path) -> None:
    stash = ShelveStash(path, writeback=False, serializer='json')
    stash.dump('a', [1])
    copy = pickle.loads(pickle.dumps(stash))
    assert copy.load('a') == [1]
    assert copy.shareable and stash.shareable
    assert not ShelveStash(path, auto_close=False).shareable


def _bump(stash: ShelveStash, worker: int, n: int) -> None:
    """Add ``n`` keys of this worker and count up a shared counter."""
    for i in range(n):
        stash.dump(f'w{worker}-{i}', i)
        with shelve(stash.path, auto_close=False) as locked:
            # a read-modify-write, safe because the shelf is held throughout
            locked.dump('count', (locked.load('count') or 0) + 1)


def test_two_processes_see_each_others_writes(path: Path) -> None:
    stash = ShelveStash(path)
    stash.dump('count', 0)
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_bump, args=(stash, w, 15))
             for w in range(2)]
    assert run_all(procs) == [0, 0]
    assert stash.load('count') == 30
    assert sorted(stash.keys()) == sorted(
        ['count'] + [f'w{w}-{i}' for w in range(2) for i in range(15)])


def test_a_spawned_child_reads_and_writes_the_shelf(path: Path) -> None:
    stash = ShelveStash(path)
    stash.dump('count', 41)
    child = multiprocessing.get_context('spawn').Process(
        target=_bump, args=(stash, 9, 1))
    assert run_all([child]) == [0]
    assert (stash.load('count'), stash.load('w9-0')) == (42, 0)


def _load_or_exit(stash: ShelveStash, key: str, want: int) -> None:
    """Exit 0 when ``key`` holds ``want``, 3 when the shelf stays locked."""
    try:
        got = stash.load(key)
    except LockTimeoutError:
        raise SystemExit(3) from None
    raise SystemExit(0 if got == want else 1)


def test_a_forked_child_waits_for_the_parents_hold_like_anyone(
        path: Path) -> None:
    stash = ShelveStash(path, auto_close=False, lock_timeout=0.2)
    stash.dump('a', 1)  # the parent now holds the shelf
    fork = multiprocessing.get_context('fork')
    assert run_all([fork.Process(target=_load_or_exit,
                                 args=(stash, 'a', 1))]) == [3]
    stash.close()
    assert run_all([fork.Process(target=_load_or_exit,
                                 args=(stash, 'a', 1))]) == [0]
    assert stash.load('a') == 1
    stash.close()


def test_a_key_with_a_lone_surrogate_is_refused_naming_it(
        tmp_path: Path) -> None:
    stash = ShelveStash(tmp_path / 'shelf')
    with pytest.raises(ValueError, match='bad'):
        stash.dump('bad\ud800', 1)
    assert list(stash.keys()) == []
    stash.close()


def test_index_of_plain_and_escaped_keys_reads_back_everywhere(
        tmp_path: Path) -> None:
    # plain keys are read by a pattern, the rest as dbm.dumb reads them;
    # both must give the same index to hutch and to the standard shelve
    keys = ['plain', 'with space', "it's", 'back\\slash', 'tab\t',
            'ünïcödé', '日本', '\x80\x9f', '"quoted"', "', (1, 2)"]
    path = tmp_path / 'shelf'
    stash = ShelveStash(path)
    for i, key in enumerate(keys):
        stash.dump(key, i)
    stash.close()
    again = ShelveStash(path)
    assert sorted(again.keys()) == sorted(keys)
    assert {k: again.load(k) for k in keys} == {k: i for i, k in enumerate(keys)}
    again.close()
    with std_shelve.open(str(path), flag='r') as std:
        assert {k: std[k] for k in keys} == {k: i for i, k in enumerate(keys)}


def test_clear_removes_the_locked_main_file_last(tmp_path: Path) -> None:
    """Openers lock the main file; while it stands, the lock keeps them out.
    Were it removed first, a new shelf could be made and opened beside the
    old index before that is gone."""
    stash = ShelveStash(tmp_path / 'shelf')
    stash['a'] = 1
    stash.close()
    removed: list[str] = []
    listening = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if listening[0] and event == 'os.remove':
            removed.append(os.fspath(args[0]))  # type: ignore[arg-type]

    sys.addaudithook(hook)
    try:
        stash.clear()
    finally:
        listening[0] = False
    assert len(removed) >= 2
    assert removed[-1] == os.fspath(stash.real_path)
