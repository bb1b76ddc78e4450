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

import codecs
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, Optional

from .._files import READ_LIMIT
from .._layout import is_layout
from ..serial import decompress_head
from .pickled import Call, Global, PickleDict, PickleSet

__all__ = ['sniff_serializer', 'plain_bytes', 'show_key', 'human_bytes',
           'format_time', 'format_value', 'format_json', 'SNIFF_BYTES',
           'SHOW_BYTES', 'MAX_DEPTH', 'MAX_OUTPUT']

SNIFF_BYTES = 1 << 20
"""How much of a value (decompressed) the sniffer looks at (1 MiB)."""

SHOW_BYTES = READ_LIMIT
"""The most a value may decompress to for ``hutch show`` (64 MiB)."""

MAX_DEPTH = 100
"""Values nested deeper than this are shown with ``...`` below it."""

MAX_OUTPUT = 1 << 22
"""``format_value`` stops after this many characters."""

#: the leading bytes of each codec's output, as :mod:`hutch.serial` writes it
_MAGIC: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ('lzma', (b'\xfd7zXZ\x00',)),
    ('bz2', (b'BZh',)),
    ('zstd', (b'\x28\xb5\x2f\xfd',)),
    ('zlib', (b'\x78\x01', b'\x78\x5e', b'\x78\x9c', b'\x78\xda')),
)


def _sniff_plain(data: bytes, whole: bool) -> str:
    # protocol 2 and later pickles start with PROTO, then the protocol number
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return 'pickle'
    if is_layout(data):  # a pickle followed by its buffers
        return 'pickle'
    try:  # not final when cut: a character may be cut in two at the end
        text = codecs.utf_8_decode(data, 'strict', whole)[0]
    except UnicodeDecodeError:
        return 'bytes'
    if not whole:  # can't parse a part: JSON if it starts like a document
        return 'json' if text.lstrip()[:1] in ('{', '[', '"') else 'text'
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return 'text'
    return 'json'


def plain_bytes(data: bytes, codec: str, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of ``data`` decompressed with ``codec`` (or
    as they are for ``''``), and whether that is all of it."""
    if not codec:
        return data[:limit], len(data) <= limit
    return decompress_head(data, codec, limit)


def sniff_serializer(data: bytes, limit: int = SNIFF_BYTES) -> str:
    """The name of the serializer that most likely wrote ``data``.

    The answer is a name :func:`hutch.get_serializer` accepts.  Only the
    first ``limit`` bytes of the value, decompressed, are looked at, so a
    compression bomb costs no more than a small value.  Data that looks
    compressed but does not decompress is reported as ``'bytes'``.
    """
    for codec, heads in _MAGIC:
        if data.startswith(heads):
            try:
                inner, whole = decompress_head(data, codec, limit)
            except Exception:  # not compressed after all: show it raw
                return 'bytes'
            return f'{_sniff_plain(inner, whole)}+{codec}'
    return _sniff_plain(data[:limit], len(data) <= limit)


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


class _Cut(Exception):
    """The text got longer than allowed."""


class _Layout:
    """Lays a value out as Python would write it, within bounds.

    Containers (and the stand-ins of :mod:`hutch.cli.pickled`) that don't
    fit on the rest of a line get one item per line, as :mod:`pprint` does;
    nesting deeper than :data:`MAX_DEPTH` shows as ``...``, a container
    inside itself as ``...``, and the output stops after
    :data:`MAX_OUTPUT` characters, so no value -- however deep, large or
    self-referential -- takes unbounded time or memory to show.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.out: list[str] = []
        self.left = MAX_OUTPUT
        self.path: set[int] = set()

    def write(self, text: str) -> None:
        self.left -= len(text)
        if self.left < 0:
            self.out.append(text[:self.left])
            raise _Cut
        self.out.append(text)

    def flat(self, value: Any, depth: int, room: int) -> str:
        """``value`` on one line, or :class:`_Cut` when longer than ``room``."""
        parts = _parts(value)
        if parts is None:
            text = _scalar(value, room)
        elif depth >= MAX_DEPTH or id(value) in self.path:
            text = '...'
        else:
            opening, items, closing = parts
            pieces = [opening]
            used = len(opening) + len(closing)
            self.path.add(id(value))
            try:
                for i, (prefix, item) in enumerate(items):
                    piece = ('' if i == 0 else ', ') + prefix + self.flat(
                        item, depth + 1, room - used)
                    used += len(piece)
                    if used > room:
                        raise _Cut
                    pieces.append(piece)
            finally:
                self.path.discard(id(value))
            pieces.append(closing)
            text = ''.join(pieces)
        if len(text) > room:
            raise _Cut
        return text

    def lay(self, value: Any, indent: int, allowance: int, depth: int) -> None:
        room = max(self.width - indent - allowance, 0)
        try:
            self.write(self.flat(value, depth, room))
            return
        except _Cut:
            if self.left < 0:
                raise
        parts = _parts(value)
        if parts is None or depth >= MAX_DEPTH or id(value) in self.path:
            self.write(_scalar(value, self.left + 1) if parts is None
                       else '...')
            return
        opening, items, closing = parts
        self.write(opening)
        inner = indent + len(opening)
        self.path.add(id(value))
        try:
            items = list(items) if not isinstance(items, list) else items
            for i, (prefix, item) in enumerate(items):
                if i:
                    self.write(',\n' + ' ' * inner)
                self.write(prefix)
                last = i == len(items) - 1
                self.lay(item, inner + len(prefix),
                         allowance + len(closing) if last else 1, depth + 1)
        finally:
            self.path.discard(id(value))
        self.write(closing)


_Items = list[tuple[str, Any]]


def _parts(value: Any) -> Optional[tuple[str, _Items, str]]:
    """A container as opening text, ``(prefix, item)`` pairs and closing
    text; ``None`` for a scalar."""
    if isinstance(value, PickleDict):
        return '{', [(_key(k), v) for k, v in value], '}'
    if isinstance(value, PickleSet):
        return _set_parts(list(value), value.frozen)
    if isinstance(value, Call):
        return _call_parts(value)
    if type(value) is list:
        return '[', [('', v) for v in value], ']'
    if type(value) is tuple:
        if len(value) == 1:
            return '(', [('', value[0])], ',)'
        return '(', [('', v) for v in value], ')'
    if type(value) is dict:
        return '{', [(_key(k), v) for k, v in value.items()], '}'
    if type(value) in (set, frozenset):
        return _set_parts(list(value), type(value) is frozenset)
    return None


def _key(key: Any) -> str:
    """A dict key as written before its value (on one line)."""
    return f'{_Layout(MAX_OUTPUT).flat(key, MAX_DEPTH - 2, MAX_OUTPUT)}: '


def _set_parts(items: list[Any], frozen: bool) -> tuple[str, _Items, str]:
    pairs = [('', v) for v in items]
    if frozen:
        return ('frozenset({', pairs, '})') if items else \
            ('frozenset(', [], ')')
    return ('{', pairs, '}') if items else ('set(', [], ')')


def _call_parts(call: Call) -> tuple[str, _Items, str]:
    func = call.func
    name = repr(func) if isinstance(func, Global) else \
        _Layout(MAX_OUTPUT).flat(func, MAX_DEPTH - 2, MAX_OUTPUT)
    args = call.args if type(call.args) is tuple else (call.args,)
    items: _Items = [('', a) for a in args]
    items += [(f'{k}=', v) for k, v in call.kwargs.items()]
    if call.items:
        items.append(('', call.items))
    if call.dictitems:
        items.append(('', call.dictitems))
    if call.state is not None:
        items.extend(_state_items(call.state))
    return f'{name}(', items, ')'


def _state_items(state: Any) -> Iterator[tuple[str, Any]]:
    """An object's state as ``name=value`` items when it is attributes."""
    dicts = [state]
    if type(state) is tuple and len(state) == 2:  # (__dict__, __slots__)
        dicts = [d for d in state if d is not None]
    if all(isinstance(d, PickleDict) and all(
            type(k) is str and k.isidentifier() for k, _ in d) for d in dicts):
        for d in dicts:
            yield from ((f'{k}=', v) for k, v in d)
    else:
        yield '__setstate__=', state


def _scalar(value: Any, room: int) -> str:
    """The repr of a value that is not a container, built only if it fits."""
    if isinstance(value, (str, bytes, bytearray)) and len(value) > room:
        raise _Cut
    if type(value) is int and value.bit_length() > 4 * room:
        raise _Cut
    if type(value) is int and value.bit_length() > 10_000:
        return f'<an int of {value.bit_length()} bits>'
    return repr(value)


def format_value(value: Any, width: int = 100) -> str:
    """A value written as Python would, one item a line where it is long.

    Bounded whatever the value (see :class:`_Layout`): a value cut at
    :data:`MAX_OUTPUT` characters ends with a line that says so.

    >>> print(format_value({'a': [1, 2], 'b': (None,)}))
    {'a': [1, 2], 'b': (None,)}
    >>> print(format_value({'key': list(range(30))}, width=40))
    {'key': [0,
             1,
    ...
    >>> deep = []
    >>> for _ in range(500): deep = [deep]
    >>> format_value(deep).count('[')
    100
    """
    layout = _Layout(width)
    try:
        layout.lay(value, 0, 0, 0)
    except _Cut:
        layout.out.append(f'\n... (cut at {MAX_OUTPUT:,} characters)')
    return ''.join(layout.out)


def _plain(value: Any, depth: int = 0) -> Any:
    """A value read by :mod:`hutch.cli.pickled` as JSON-ready data."""
    if depth > MAX_DEPTH:
        raise ValueError(f'nested more than {MAX_DEPTH} levels deep')
    if isinstance(value, PickleDict):
        out = {}
        for k, v in value:
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f'a dict key of type {type(k).__name__}')
            out[k] = _plain(v, depth + 1)
        return out
    if isinstance(value, (PickleSet, Call, Global)):
        raise TypeError(f'{format_value(value)[:60]} is not JSON data')
    if type(value) in (list, tuple):
        return [_plain(v, depth + 1) for v in value]
    if type(value) is dict:
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    return value


def format_json(value: Any) -> str:
    """A value as indented JSON.

    :raises TypeError: when the value holds something JSON can't express
    :raises ValueError: for a value that contains itself or is nested
        deeper than :data:`MAX_DEPTH`
    """
    try:
        return json.dumps(_plain(value), indent=2, ensure_ascii=False,
                          allow_nan=False)
    except RecursionError as e:
        raise ValueError('the value contains itself') from e
