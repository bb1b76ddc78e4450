"""FileTextUtil: file names made from text."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import pytest

from hutch import FileTextUtil


@pytest.mark.parametrize('text, name', [
    ('Test of File! Text@ Util', 'test-of-file-text-util'),
    ('^first Test of File! Text@ Util.', 'first-test-of-file-text-util'),
    ('!--Test middle!@#$%^&*(){} Last!%', 'test-middle-last'),
    ('a/b\\c:d', 'a-b-c-d'),
])
def test_normalize_text_makes_one_dash_of_each_run_and_trims_the_ends(
        text: str, name: str) -> None:
    assert FileTextUtil.normalize_text(text) == name


def test_normalize_text_keeps_case_and_takes_another_replacement() -> None:
    assert FileTextUtil.normalize_text('Model v2.1', '_', lower=False) == \
        'Model_v2_1'


def test_normalize_text_may_keep_only_printable_ascii() -> None:
    assert FileTextUtil.normalize_text(
        'Héllo wörld', remove_non_printable=True) == 'hllo-wrld'


def test_normalize_text_takes_another_pattern() -> None:
    assert FileTextUtil.normalize_text('a1b22c', regex=re.compile(r'\d+')) \
        == 'a-b-c'


@pytest.mark.parametrize('path, parts', [
    ('/usr/local/bin/script.txt', ('/', 'usr', 'local', 'bin', 'script-txt')),
    ('local.bin/script.txt', ('local-bin', 'script-txt')),
    ('~/src/file.c', ('~', 'src', 'file-c')),
])
def test_normalize_path_normalizes_each_part_but_root_and_home(
        path: str, parts: tuple[str, ...]) -> None:
    normal = FileTextUtil.normalize_path(Path(path))
    assert isinstance(normal, Path) and normal.parts == parts


@pytest.mark.parametrize('num, text', [
    (0, '0.0B'), (1023, '1023.0B'), (1536, '1.5KiB'), (10**9, '953.7MiB'),
    (-2048, '-2.0KiB'), (2**90, '1024.0YiB')])
def test_byte_format_uses_binary_units(num: int, text: str) -> None:
    assert FileTextUtil.byte_format(num) == text


def test_unique_tracked_name_holds_user_time_and_extension() -> None:
    name = FileTextUtil.unique_tracked_name('Run', extension='LOG')
    user = getpass.getuser().lower()
    assert re.fullmatch(
        rf'run-{re.escape(user)}-[a-z]{{3}}\d{{2}}-\d{{4}}\.log', name), name


def test_unique_tracked_name_may_leave_out_user_and_time() -> None:
    assert FileTextUtil.unique_tracked_name('Run', False, False) == 'run'


def test_normalize_text_trims_the_end_of_a_two_character_name() -> None:
    assert FileTextUtil.normalize_text('a!') == 'a'
