"""ZipStash.check: what in a zip archive is not sound data."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

from hutch import ZipStash
from hutch.stash.check import BAD_ENTRY, UNDECODABLE_NAME, UNREADABLE

from .test_zip import declare_size, make_zip


def found(report: object) -> list[tuple[str, str | None]]:
    return sorted((p.kind, p.key)
                  for p in report.problems)  # type: ignore[attr-defined]


def _flip(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert raw.count(old) == 1, old
    path.write_bytes(raw.replace(old, new))  # its CRC no longer matches


def test_a_sound_archive_has_no_problems(tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'a.zip', {'a': 'one', 'b/c': 'two',
                                         'folder/': None})
    report = ZipStash(path).check(values=True)
    assert (report.items, report.problems) == (2, [])
    assert str(report) == 'ZipStash: 2 items, no problems'


def test_an_entry_whose_crc_fails_is_found_without_values(
        tmp_path: Path) -> None:
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('good', b'fine data ' * 10)
        z.writestr('bad', b'the payload, once')
    _flip(path, b'payload, once', b'paXload, once')
    report = ZipStash(path).check()
    assert found(report) == [(UNREADABLE, 'bad')]
    assert report.problems[0].path == str(path)
    assert found(ZipStash(path).check(values=True)) == [(UNREADABLE, 'bad')]


def test_an_entry_declaring_an_absurd_size_is_reported_and_not_read(
        tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'a.zip', {'huge': b'h' * 500, 'ok': b'o'})
    declare_size(path, b'huge', 0xFFFF0000)
    report = ZipStash(path).check(values=True)
    assert found(report) == [(BAD_ENTRY, 'huge')]
    assert '4,294,901,760 bytes' in report.problems[0].detail


def test_an_entry_whose_data_runs_past_the_end_is_reported(
        tmp_path: Path) -> None:
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('a', b'x' * 100)
    raw = bytearray(path.read_bytes())
    at = raw.index(b'PK\x01\x02')
    raw[at + 20:at + 24] = (1 << 30).to_bytes(4, 'little')  # compressed size
    path.write_bytes(bytes(raw))
    report = ZipStash(path, read_limit=None).check()
    assert found(report) == [(BAD_ENTRY, 'a')]
    assert 'past the end' in report.problems[0].detail


def test_two_entries_of_one_name_are_reported(tmp_path: Path) -> None:
    path = tmp_path / 'a.zip'
    with warnings.catch_warnings(), \
            zipfile.ZipFile(path, 'w') as z:
        warnings.simplefilter('ignore')
        z.writestr('twice', 'first')
        z.writestr('twice', 'second')
    report = ZipStash(path).check()
    assert found(report) == [(BAD_ENTRY, 'twice')]
    assert 'only the last' in report.problems[0].detail


def test_a_name_cut_short_at_a_nul_byte_is_reported(tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'a.zip', {'evil@name': 'x', 'plain': 'y'})
    raw = path.read_bytes().replace(b'evil@name', b'evil\x00name')
    path.write_bytes(raw)
    report = ZipStash(path).check()
    assert found(report) == [(UNDECODABLE_NAME, 'evil')]


def test_entries_outside_the_root_are_not_checked(tmp_path: Path) -> None:
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('data/a', b'inside')
        z.writestr('other', b'the payload, once')
    _flip(path, b'payload, once', b'paXload, once')
    assert ZipStash(path, root='data').check().problems == []


def test_an_entry_not_in_the_encoding_is_found_with_values(
        tmp_path: Path) -> None:
    path = make_zip(tmp_path / 'a.zip', {'blob': b'\xff\xfe', 'text': 'ok'})
    stash = ZipStash(path, encoding='utf-8')
    assert stash.check().problems == []
    assert found(stash.check(values=True)) == [(UNREADABLE, 'blob')]
