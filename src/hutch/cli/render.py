"""How the ``hutch`` command reads stored bytes and shows what it found.

Durable stashes store bytes made by a serializer (:mod:`hutch.serial`), and
nothing in those bytes names the serializer.  The command therefore *sniffs*
it from the bytes' first few characters: the compression codecs and pickle
have magic numbers, and JSON and text are recognised by decoding them (which
runs no code).  ``--serializer`` overrides the guess.

>>> from hutch import get_serializer
>>> sniff_serializer(get_serializer('pickle+zlib').dumps([1, 2]))
'pickle+zlib'
>>> sniff_serializer(b'{"a": 1}'), sniff_serializer('héllo'.encode())
('json', 'text')
>>> sniff_serializer(bytes([0, 159, 146, 150]))
'bytes'
"""

from __future__ import annotations

import bz2
import datetime as dt
import json
import lzma
import pprint
import zlib
from collections.abc import Callable
from typing import Any, Optional

from .._layout import is_layout

__all__ = ['sniff_serializer', 'show_key', 'human_bytes', 'format_time',
           'format_value', 'format_json']

#: the leading bytes of each codec's output, as :mod:`hutch.serial` writes it
_MAGIC: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ('lzma', (b'\xfd7zXZ\x00',)),
    ('bz2', (b'BZh',)),
    ('zstd', (b'\x28\xb5\x2f\xfd',)),
    ('zlib', (b'\x78\x01', b'\x78\x5e', b'\x78\x9c', b'\x78\xda')),
)


def _decompressor(codec: str) -> Callable[[bytes], bytes]:
    if codec == 'lzma':
        return lzma.decompress
    if codec == 'bz2':
        return bz2.decompress
    if codec == 'zlib':
        return zlib.decompress
    import zstandard  # only reached when the bytes carry zstd's magic
    return zstandard.ZstdDecompressor().decompress


def _sniff_plain(data: bytes) -> str:
    # protocol 2 and later pickles start with PROTO, then the protocol number
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return 'pickle'
    if is_layout(data):  # a pickle followed by its buffers
        return 'pickle'
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return 'bytes'
    try:
        json.loads(text)
    except ValueError:
        return 'text'
    return 'json'


def sniff_serializer(data: bytes) -> str:
    """The name of the serializer that most likely wrote ``data``.

    The answer is a name :func:`hutch.get_serializer` accepts.  Data that
    looks compressed but does not decompress is reported as ``'bytes'``.
    """
    for codec, heads in _MAGIC:
        if data.startswith(heads):
            try:
                inner = _decompressor(codec)(data)
            except Exception:  # not compressed after all: show it raw
                return 'bytes'
            return f'{_sniff_plain(inner)}+{codec}'
    return _sniff_plain(data)


def human_bytes(n: int) -> str:
    """A byte count for people.

    >>> human_bytes(999), human_bytes(123_456), human_bytes(5 * 1024 ** 3)
    ('999 B', '120.6 KiB', '5.0 GiB')
    """
    size = float(n)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if size < 1024 or unit == 'GiB':
            return f'{n} B' if unit == 'B' else f'{size:.1f} {unit}'
        size /= 1024
    raise AssertionError('unreachable')


def format_time(mtime: Optional[float]) -> str:
    """A modification time (seconds since the epoch) in local time, or ``-``."""
    if mtime is None:
        return '-'
    return dt.datetime.fromtimestamp(mtime).strftime('%Y-%m-%d %H:%M:%S')


def show_key(key: str) -> str:
    """A key as it is printed on one line: as it is, or quoted if it must be.

    Keys may hold any character; one that would break a line-per-key listing
    (a newline, a control character, leading or trailing space) is shown as
    a Python string literal instead.

    >>> show_key('doc-12'), show_key('a\\nb'), show_key(' x')
    ('doc-12', "'a\\\\nb'", "' x'")
    """
    if key.isprintable() and key == key.strip() and key \
            and not key.startswith(("'", '"')):
        return key
    return repr(key)


def format_value(value: Any, width: int = 100) -> str:
    """A value pretty-printed as Python would write it."""
    return pprint.pformat(value, width=width, sort_dicts=False)


def format_json(value: Any) -> str:
    """A value as indented JSON.

    :raises TypeError: when the value holds something JSON can't express
    :raises ValueError: for a value that contains itself
    """
    return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
