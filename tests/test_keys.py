"""The key <-> file name codec: reversible, confined to the folder, portable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hutch._keys import (
    EMPTY_NAME,
    LONG_MARK,
    MAX_NAME_BYTES,
    FileNames,
    decode_name,
    encode_key,
    is_long_name,
    pack_long_key,
    read_long_key,
    unpack_long_key,
)

UNSAFE = ['/', '\\', '\x00', '\n', '\x1f', '\x7f', '%', '<', '>', ':', '"',
          '|', '?', '*', '\ud800']
TRICKY = ['', '.', '..', '...', '.hidden', 'a/../b', '/abs', 'C:\\x', 'a ',
          'a.', ' a', 'CON', 'con.txt', 'lpt1', 'com9.x', 'console', '%2F',
          '%', '%~', '%-', 'x' * 500, 'é' * 150, '✓/' * 100, '\udcff',
          'a\x00b', 'tab\there', 'nul.', 'item-1.dat']


@pytest.mark.parametrize('key', ['item-1', 'a_b', 'Hello World', 'héllo',
                                 '日本語', 'v1.2.3', '-', 'a b c', 'x=1,y=2',
                                 "it's", '(1)', '#tag', 'a+b', '~user'])
def test_plain_keys_are_their_own_names(key: str) -> None:
    assert encode_key(key) == key


@pytest.mark.parametrize('key', TRICKY)
def test_tricky_keys_round_trip(key: str) -> None:
    name = encode_key(key)
    if is_long_name(name):
        assert decode_name(name) is None  # the key lives in the file
    else:
        assert decode_name(name) == key


@given(st.text(max_size=60))
def test_every_short_key_round_trips(key: str) -> None:
    assert decode_name(encode_key(key)) == key


@given(st.text(max_size=300))
def test_no_name_can_leave_the_folder(key: str) -> None:
    name = encode_key(key)
    assert name not in ('', '.', '..')
    assert not name.startswith('.')
    assert not any(c in name for c in '/\\\x00')
    assert os.path.basename(name) == name
    assert len(name.encode('utf-8')) <= MAX_NAME_BYTES


@given(st.text(max_size=300))
def test_names_hold_only_portable_characters(key: str) -> None:
    name = encode_key(key)
    assert not any(c in name for c in '<>:"|?*')
    assert all(ord(c) >= 0x20 and not 0x7f <= ord(c) <= 0x9f for c in name)
    assert not any(0xd800 <= ord(c) <= 0xdfff for c in name)
    assert not name.endswith(('.', ' '))
    name.encode('utf-8')  # valid UTF-8: no lone surrogates


@given(st.text(max_size=40), st.text(max_size=40))
def test_different_keys_get_different_names(a: str, b: str) -> None:
    if a != b:
        assert encode_key(a) != encode_key(b)


@pytest.mark.parametrize('char', UNSAFE)
def test_unsafe_characters_are_escaped(char: str) -> None:
    name = encode_key(f'a{char}b')
    assert char not in name or char == '%' and name == 'a%25b'
    assert decode_name(name) == f'a{char}b'


@pytest.mark.parametrize('key', ['CON', 'prn', 'Aux', 'nul', 'com1', 'LPT9',
                                 'con.txt', 'nul.tar.gz'])
def test_windows_device_names_are_escaped(key: str) -> None:
    name = encode_key(key)
    assert name != key and name.startswith('%')
    assert decode_name(name) == key


def test_words_that_start_like_devices_stay_plain() -> None:
    assert encode_key('console') == 'console'
    assert encode_key('com10') == 'com10'


def test_the_empty_key_has_its_own_name() -> None:
    assert encode_key('') == EMPTY_NAME
    assert decode_name(EMPTY_NAME) == ''


def test_long_keys_are_cut_and_hashed_within_budget() -> None:
    key = 'k' * 1000
    name = encode_key(key)
    assert len(name.encode()) == MAX_NAME_BYTES
    assert LONG_MARK in name and name.startswith('kkk')
    assert encode_key(key + 'x') != name


def test_long_key_cut_never_splits_an_escape_or_a_character() -> None:
    for pad in range(4):
        key = 'x' * pad + '/' * 200
        name = encode_key(key)
        decoded = decode_name(name.split(LONG_MARK)[0])
        assert decoded is not None and key.startswith(decoded)
    name = encode_key('é' * 300)
    assert name.encode('utf-8').decode('utf-8') == name


def test_a_smaller_budget_makes_shorter_names() -> None:
    assert len(encode_key('y' * 100, max_bytes=60)) == 60


@pytest.mark.parametrize('name', ['.hidden', '..', 'a%2e', 'a%2', '%zz',
                                  'a/b', 'CON', 'a.', '%FF', '%41'])
def test_names_encode_key_cannot_make_are_not_keys(name: str) -> None:
    assert decode_name(name) is None


def test_a_non_str_key_raises_typeerror_naming_it() -> None:
    with pytest.raises(TypeError, match='int: 42'):
        encode_key(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes: b'k'"):
        FileNames().name_of(b'k')  # type: ignore[arg-type]


def test_long_key_header_round_trips(tmp_path: Path) -> None:
    key = 'long/' * 100
    data = pack_long_key(key, b'payload')
    assert unpack_long_key(data) == (key, b'payload')
    (tmp_path / 'f').write_bytes(data)
    assert read_long_key(str(tmp_path / 'f')) == key


def test_data_without_a_header_has_no_long_key(tmp_path: Path) -> None:
    assert unpack_long_key(b'\x80\x05plain pickle') is None
    assert unpack_long_key(pack_long_key('k', b'')[:-1]) is None
    (tmp_path / 'f').write_bytes(b'plain')
    assert read_long_key(str(tmp_path / 'f')) is None
    assert read_long_key(str(tmp_path / 'missing')) is None


def test_file_names_wrap_the_encoded_key_in_the_pattern() -> None:
    names = FileNames('data-', '.dat')
    assert names.name_of('a b') == ('data-a b.dat', False)
    name, long = names.name_of('z' * 400)
    assert long and name.startswith('data-zz') and name.endswith('.dat')


def test_file_names_find_exactly_the_keys_in_a_listing() -> None:
    names = FileNames('', '.dat')
    keys = ['item-1', 'a/b', '', '..', 'CON', '100%', 'é']
    listing = [names.name_of(k)[0] for k in keys] + [
        'other.txt', '.x.dat', '.item-1.dat.12.0.hutch-tmp', 'CON.dat',
        'a%2f.dat', 'nodot', 'x.dat.bak', 'x\ny.dat']
    assert sorted(names.keys_of(listing)) == sorted(keys)


def test_file_names_with_an_empty_suffix_still_refuse_devices() -> None:
    names = FileNames('', '')
    assert names.name_of('con')[0] == '%63on'
    assert names.keys_of(['con', '%63on', 'conx']) == ['conx', 'con']


def test_file_names_find_long_keys_through_their_files(tmp_path: Path) -> None:
    names = FileNames('', '.dat')
    key = 'deep/' * 80
    name, long = names.name_of(key)
    assert long
    (tmp_path / name).write_bytes(pack_long_key(key, b''))
    forged = name.replace(LONG_MARK, LONG_MARK + '0')[:-5] + '.dat'
    (tmp_path / forged).write_bytes(pack_long_key(key, b''))
    assert names.keys_of(os.listdir(tmp_path), str(tmp_path)) == [key]


def test_file_names_drop_plain_names_over_budget() -> None:
    names = FileNames('', '.dat', max_bytes=60)
    assert names.keys_of(['a' * 60 + '.dat', 'a' * 61 + '.dat', 'b.dat']) == \
        ['a' * 60, 'b']


@given(st.sets(st.text(max_size=40), max_size=20),
       st.sampled_from([('', '.dat'), ('data-', '.dat'), ('', ''), ('p', '')]))
def test_a_listing_of_encoded_keys_gives_back_exactly_those_keys(
        keys: set[str], pattern: tuple[str, str]) -> None:
    names = FileNames(*pattern)
    listing = [names.name_of(k)[0] for k in keys]
    assert sorted(names.keys_of(listing)) == sorted(keys)
