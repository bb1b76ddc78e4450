"""How the hutch command recognises stored bytes and prints what it finds."""

from __future__ import annotations

from typing import Any

import pytest

from hutch import get_serializer
from hutch.cli.render import human_bytes, show_key, sniff_serializer

SAMPLES: dict[str, Any] = {
    'pickle': {'a': [1, 2], 'b': None},
    'json': {'a': [1, 2], 'b': None},
    'text': 'héllo wörld',
    'bytes': bytes(range(250, 256)) * 3,
}


@pytest.mark.parametrize('codec', ['', '+zlib', '+lzma', '+bz2', '+zstd'])
@pytest.mark.parametrize('base', sorted(SAMPLES))
def test_every_serializer_is_recognised_from_its_bytes(base: str,
                                                        codec: str) -> None:
    name = base + codec
    assert sniff_serializer(get_serializer(name).dumps(SAMPLES[base])) == name


def test_bytes_that_only_look_compressed_are_bytes() -> None:
    assert sniff_serializer(b'BZh' + bytes([255, 0, 1])) == 'bytes'


def test_text_that_is_json_is_called_json() -> None:
    assert sniff_serializer(get_serializer('text').dumps('[1, 2]')) == 'json'


@pytest.mark.parametrize('key', ['a', 'doc-10', 'a/b', 'dé jà'])
def test_a_plain_key_is_printed_as_it_is(key: str) -> None:
    assert show_key(key) == key


@pytest.mark.parametrize('key', ['', ' lead', 'trail ', 'two\nlines',
                                 'tab\there', "'quoted'"])
def test_a_key_that_would_mislead_is_printed_quoted(key: str) -> None:
    assert show_key(key) == repr(key)


def test_sizes_are_given_in_binary_units() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536 * 1024)] == \
        ['0 B', '1023 B', '1.0 KiB', '1.5 MiB']
