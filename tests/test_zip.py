"""ZipStash: a read-only view of a zip archive's entries."""

from __future__ import annotations

import multiprocessing
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hutch import CorruptDataError, PersistableError, ReadOnlyError, ZipStash
from hutch.testing import BaseReadContract

from .processes import run_all


def make_zip(path: Path, entries: dict[str, Any]) -> Path:
    """Write ``entries`` (name -> str or bytes; None makes a folder)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            if data is None:
                z.writestr(zipfile.ZipInfo(name.rstrip('/') + '/'), b'')
            else:
                z.writestr(name, data)
    return path


class TestZipStashOfText(BaseReadContract):
    """Text entries below a root, among entries the stash must not show."""

    sample = {
        'alpha': 'one',
        'lines': 'two\nlines\n',
        'text': 'héllo wörld',
        'empty': '',
        'sub/nested.txt': 'deep',
    }

    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> ZipStash:
        entries: dict[str, Any] = {'README': 'outside the root',
                                   'corpus/': None, 'corpus/sub/': None,
                                   'corpusx/near': 'shares a name prefix'}
        entries.update({f'corpus/{k}': v.encode('utf-8')
                        for k, v in items.items()})
        path = make_zip(tmp_path / 'text.zip', entries)
        return ZipStash(path, root='corpus', encoding='utf-8')


class TestZipStashOfBytes(BaseReadContract):
    """The whole archive, as bytes."""

    sample = {'a.bin': b'\x00\x01\xff', 'b/c.bin': b'', 'd': b'data' * 100}

    def new_stash(self, tmp_path: Path, items: dict[str, Any]) -> ZipStash:
        return ZipStash(make_zip(tmp_path / 'bytes.zip', items))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return make_zip(tmp_path / 'data.zip', {
        'top.txt': 'top', 'data/': None, 'data/a.txt': 'a',
        'data/deeper/': None, 'data/deeper/b.txt': 'b'})


def test_keys_drop_the_root_and_leave_out_folders(archive: Path) -> None:
    assert sorted(ZipStash(archive, root='data').keys()) == \
        ['a.txt', 'deeper/b.txt']


def test_without_a_root_every_file_is_a_key(archive: Path) -> None:
    assert sorted(ZipStash(archive).keys()) == \
        ['data/a.txt', 'data/deeper/b.txt', 'top.txt']


@pytest.mark.parametrize('root', ['/data', 'data/', '/'])
def test_a_root_that_starts_or_ends_with_a_slash_is_refused(
        archive: Path, root: str) -> None:
    with pytest.raises(PersistableError, match='^Roots can not start') as e:
        ZipStash(archive, root=root)
    assert repr(root) in str(e.value)
    assert isinstance(e.value, ValueError)


def test_a_root_names_a_folder_without_slashes_around_it(
        archive: Path) -> None:
    assert ZipStash(archive, root='data', encoding='ascii')['a.txt'] == 'a'


def test_entries_outside_the_root_are_absent(archive: Path) -> None:
    stash = ZipStash(archive, root='data/deeper')
    assert stash.load('../a.txt') is None
    assert not stash.exists('top.txt')
    assert list(stash.keys()) == ['b.txt']


def test_without_an_encoding_values_are_bytes(archive: Path) -> None:
    assert ZipStash(archive).load('top.txt') == b'top'


def test_an_unknown_encoding_is_refused_at_construction(
        archive: Path) -> None:
    with pytest.raises(ValueError):
        ZipStash(archive, encoding='no-such-codec')


def test_a_non_str_root_is_refused_at_construction(archive: Path) -> None:
    with pytest.raises(TypeError):
        ZipStash(archive, root=3)  # type: ignore[arg-type]


def test_a_non_str_key_raises_type_error(archive: Path) -> None:
    with pytest.raises(TypeError):
        ZipStash(archive).load(b'top.txt')  # type: ignore[arg-type]


def test_a_missing_zip_raises_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / 'absent.zip'
    stash = ZipStash(path)
    with pytest.raises(PersistableError) as info:
        stash.keys()
    assert info.value.path == path


def test_a_file_that_is_not_a_zip_raises_naming_the_path(
        tmp_path: Path) -> None:
    path = tmp_path / 'fake.zip'
    path.write_bytes(b'PK but not really a zip archive' * 10)
    with pytest.raises(PersistableError) as info:
        ZipStash(path).load('x')
    assert str(path) in str(info.value)


def test_a_damaged_entry_raises_corrupt_data_error_naming_it(
        tmp_path: Path) -> None:
    payload = b'0123456789abcdef' * 64
    path = tmp_path / 'damaged.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('entry', payload)
    raw = path.read_bytes()
    at = raw.index(payload) + 100
    path.write_bytes(raw[:at] + b'X' + raw[at + 1:])  # CRC no longer matches
    stash = ZipStash(path)
    assert stash.exists('entry')
    with pytest.raises(CorruptDataError) as info:
        stash.load('entry')
    assert (info.value.key, info.value.path) == ('entry', path)


def test_an_entry_larger_than_the_read_limit_raises_naming_it(
        tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'big.zip', {'big': b'x' * 2000,
                                           'small': b'y' * 1000})
    stash = ZipStash(path, read_limit=1000)
    assert stash.load('small') == b'y' * 1000
    with pytest.raises(CorruptDataError, match='read_limit') as info:
        stash.load('big')
    assert (info.value.key, info.value.path) == ('big', path)
    assert ZipStash(path, read_limit=None).load('big') == b'x' * 2000


def declare_size(path: Path, name: bytes, size: int) -> None:
    """Make the central directory claim that entry ``name`` expands to
    ``size`` bytes (its data and CRC stay as they were)."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b'PK\x01\x02')
    while True:
        length = int.from_bytes(raw[at + 28:at + 30], 'little')
        if raw[at + 46:at + 46 + length] == name:
            raw[at + 24:at + 28] = size.to_bytes(4, 'little')
            break
        at = raw.index(b'PK\x01\x02', at + 4)
    path.write_bytes(bytes(raw))


def test_an_entry_declaring_a_huge_size_is_refused_before_it_is_read(
        tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'liar.zip', {'liar': b'z' * 5000})
    declare_size(path, b'liar', 0xFFFF0000)
    with pytest.raises(CorruptDataError, match='4,294,901,760 bytes') as e:
        ZipStash(path).load('liar')
    assert e.value.key == 'liar'


def test_the_read_limit_is_checked_at_construction(tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'a.zip', {'a': 'x'})
    with pytest.raises(ValueError, match='read_limit'):
        ZipStash(path, read_limit=0)
    with pytest.raises(TypeError, match='read_limit'):
        ZipStash(path, read_limit='1k')  # type: ignore[arg-type]


def test_an_entry_that_is_not_text_in_the_encoding_raises_corrupt_data(
        tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'bin.zip', {'blob': b'\xff\xfe\xfa'})
    with pytest.raises(CorruptDataError) as info:
        ZipStash(path, encoding='utf-8').load('blob')
    assert info.value.key == 'blob'


def test_writes_are_ignored(archive: Path) -> None:
    stash = ZipStash(archive)
    stash.dump('top.txt', b'changed')
    stash.delete('top.txt')
    stash.clear()
    assert stash.load('top.txt') == b'top'


def test_writes_are_refused_when_strict(archive: Path) -> None:
    stash = ZipStash(archive)
    stash.strict = True
    with pytest.raises(ReadOnlyError):
        stash.dump('new', b'x')


def test_after_close_the_next_read_opens_the_archive_afresh(
        tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'v.zip', {'k': 'first'})
    with ZipStash(path) as stash:
        assert stash.load('k') == b'first'
        make_zip(path, {'k': 'second', 'new': 'x'})
    assert stash.load('k') == b'second'
    assert len(stash) == 2
    stash.close()


def test_pickles_by_path(archive: Path) -> None:
    stash = ZipStash(archive, root='data', encoding='utf-8')
    assert stash.load('a.txt') == 'a'  # the copy must not carry the handle
    copy = pickle.loads(pickle.dumps(stash))
    assert copy.load('deeper/b.txt') == 'b'
    assert (copy.path, copy.root, copy.encoding) == (archive, 'data', 'utf-8')
    limited = pickle.loads(pickle.dumps(ZipStash(archive, read_limit=10)))
    assert limited.read_limit == 10


def _read_all(stash: ZipStash) -> None:
    want = {'top.txt': b'top', 'data/a.txt': b'a', 'data/deeper/b.txt': b'b'}
    for _ in range(20):
        if dict(stash.items()) != want:
            raise SystemExit(1)


def test_forked_children_read_beside_the_parent(archive: Path) -> None:
    stash = ZipStash(archive)
    assert stash.load('top.txt') == b'top'  # the parent's handle is open
    fork = multiprocessing.get_context('fork')
    procs = [fork.Process(target=_read_all, args=(stash,)) for _ in range(3)]
    assert run_all(procs) == [0, 0, 0]
    _read_all(stash)
    stash.close()


def test_setting_the_path_reads_the_new_archive(
        archive: Path, tmp_path: Path) -> None:
    other = tmp_path / 'other.zip'
    with zipfile.ZipFile(other, 'w') as z:
        z.writestr('data/new.txt', 'new')
    stash = ZipStash(archive, root='data')
    assert stash.exists('a.txt')
    stash.path = other
    assert stash.path == other
    assert list(stash.keys()) == ['new.txt']
    assert not stash.exists('a.txt')
