"""Serializers: the seam between values and the bytes a back end stores.

Durable stashes store bytes; a :class:`Serializer` turns values into bytes
and back.  Pick one by object or by name:

* ``'pickle'`` (the default): any picklable value, highest protocol.  Loading
  a pickle **runs code** chosen by whoever wrote it: only load data you trust.
* ``'json'``: plain data (dicts, lists, strings, numbers, booleans, None).
  Loading runs no code, so it is safe for data from others.
* ``'bytes'``: values are ``bytes`` already, stored as they are.
* ``'text'``: values are ``str``, stored as UTF-8.

Stashes write and read through :meth:`Serializer.encode` and
:meth:`Serializer.read`, so a large value is never copied whole in memory:
the pickle serializer writes values that expose their memory (numpy arrays
and what is built on them) as a pickle followed by their buffers (see
:mod:`hutch._layout`), and reads those buffers straight into their final
memory, or maps them from the file (``mmap=True``).

Any of them composes with compression by adding ``+codec`` to the name
(``'pickle+zlib'``, ``'json+lzma'``, ``'bytes+bz2'``, ``'pickle+zstd'`` when
the ``zstandard`` package is installed), or with :class:`Compressed`.

>>> s = get_serializer('json+zlib')
>>> s.loads(s.dumps({'a': [1, 2]}))
{'a': [1, 2]}
>>> s.name
'json+zlib'
>>> get_serializer('yaml')
Traceback (most recent call last):
...
ValueError: unknown serializer 'yaml'; known: bytes, json, pickle, text
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import pickle
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import IO, Any, Protocol, Union

from . import _layout
from ._layout import Chunk
from .util import check_int

__all__ = ['Serializer', 'PickleSerializer', 'JsonSerializer',
           'BytesSerializer', 'TextSerializer', 'Compressed',
           'get_serializer', 'SerializerSpec', 'CODECS', 'decompress_head']


class Serializer(ABC):
    """Turns values into bytes and back; stateless and picklable."""

    name: str = 'abstract'

    @abstractmethod
    def dumps(self, value: Any) -> bytes:
        """The bytes that stand for ``value``."""

    @abstractmethod
    def loads(self, data: bytes) -> Any:
        """The value that ``data`` stands for; raises on data it can't read."""

    def encode(self, value: Any) -> list[Chunk]:
        """The bytes that stand for ``value``, as chunks to write one after
        another; large parts may be views of the value's own memory, so
        write them before the value changes."""
        return [self.dumps(value)]

    def write(self, value: Any, file: IO[bytes]) -> None:
        """Write the bytes that stand for ``value`` to ``file``."""
        for chunk in self.encode(value):
            file.write(chunk)

    def read(self, file: IO[bytes], mmap: bool = False) -> Any:
        """The value that the rest of ``file`` stands for.

        :param mmap: a serializer that can return parts of the value as
            read-only views of the mapped file does (the pickle serializer,
            for values written in the large value layout); others ignore it
        """
        return self.loads(file.read())

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.name!r})'

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), self.name))


class PickleSerializer(Serializer):
    """Pickle, by default with the highest protocol.  Loading runs code.

    With protocol 5 (the highest), :meth:`encode` leaves the memory of large
    buffers (numpy arrays ...) out of the pickle and writes it after, in the
    large value layout of :mod:`hutch._layout`; :meth:`loads` and
    :meth:`read` read that layout and plain pickles alike.

    >>> s = PickleSerializer()
    >>> s.loads(b''.join(s.encode({'big': bytes(100_000)})))['big'][:3]
    b'\\x00\\x00\\x00'
    """

    name = 'pickle'

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = check_int(protocol, 'pickle protocol', 0,
                                  pickle.HIGHEST_PROTOCOL)

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.protocol)

    # the layout's own function, not a method calling it: every read of a
    # pickled value goes through here, and a frame less is felt in a hit
    loads = staticmethod(_layout.loads)

    def encode(self, value: Any) -> list[Chunk]:
        return _layout.encode(value, self.protocol)

    def read(self, file: IO[bytes], mmap: bool = False) -> Any:
        return _layout.read(file, mmap)

    def __getstate__(self) -> dict[str, Any]:
        return {'protocol': self.protocol}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state['protocol'])  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PickleSerializer) and \
            other.protocol == self.protocol

    __hash__ = Serializer.__hash__


class JsonSerializer(Serializer):
    """JSON in UTF-8: plain data only; loading never runs code.

    >>> JsonSerializer().dumps({'b': 1, 'a': None})
    b'{"b":1,"a":null}'
    """

    name = 'json'

    def __init__(self, sort_keys: bool = False) -> None:
        self.sort_keys = sort_keys

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, separators=(',', ':'), ensure_ascii=False,
                          sort_keys=self.sort_keys).encode('utf-8')

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class BytesSerializer(Serializer):
    """Stores ``bytes`` (or ``bytearray``/``memoryview``) as they are."""

    name = 'bytes'

    def dumps(self, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(
                f'the bytes serializer stores bytes, got {type(value).__name__}')
        return bytes(value)

    def loads(self, data: bytes) -> Any:
        return bytes(data)


class TextSerializer(Serializer):
    """Stores ``str`` values in an encoding (UTF-8 by default)."""

    name = 'text'

    def __init__(self, encoding: str = 'utf-8') -> None:
        if not isinstance(encoding, str):
            raise TypeError(f'encoding must be a str, got {encoding!r}')
        try:
            ''.encode(encoding)
        except LookupError as e:
            raise ValueError(f'unknown text encoding {encoding!r}') from e
        self.encoding = encoding

    def dumps(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise TypeError(
                f'the text serializer stores str, got {type(value).__name__}')
        return value.encode(self.encoding)

    def loads(self, data: bytes) -> Any:
        return bytes(data).decode(self.encoding)


def _zstd() -> tuple[Callable[[bytes, int], bytes], Callable[[bytes], bytes]]:
    try:
        import zstandard
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ValueError(
            "the 'zstd' codec needs the zstandard package "
            "(pip install 'hutch[zstd]')") from e

    def compress(data: bytes, level: int) -> bytes:
        return zstandard.ZstdCompressor(level=level).compress(data)

    def decompress(data: bytes) -> bytes:
        return zstandard.ZstdDecompressor().decompress(data)

    return compress, decompress


CODECS: dict[str, int] = {'zlib': 6, 'lzma': 6, 'bz2': 9, 'zstd': 3}
"""The compression codecs :class:`Compressed` knows, with default levels."""

_LEVELS: dict[str, tuple[int, int]] = {
    'zlib': (-1, 9), 'lzma': (0, 9), 'bz2': (1, 9), 'zstd': (-7, 22)}


class Compressed(Serializer):
    """Compresses what another serializer produces.

    :param inner: the serializer whose bytes are compressed
    :param codec: one of :data:`CODECS`
    :param level: the compression level (the codec's default when ``None``)

    >>> s = Compressed(PickleSerializer(), 'lzma')
    >>> s.loads(s.dumps(list(range(3))))
    [0, 1, 2]
    """

    def __init__(self, inner: Serializer, codec: str = 'zlib',
                 level: int | None = None) -> None:
        if not isinstance(inner, Serializer):
            raise TypeError(f'inner must be a Serializer, got {inner!r}')
        if codec not in CODECS:
            raise ValueError(
                f'unknown codec {codec!r}; known: {", ".join(sorted(CODECS))}')
        if level is None:
            level = CODECS[codec]
        check_int(level, f'{codec} level', *_LEVELS[codec])
        self.inner = inner
        self.codec = codec
        self.level = level
        self.name = f'{inner.name}+{codec}'
        self._setup()

    def _setup(self) -> None:
        level = self.level
        comp: Callable[[bytes], bytes]
        decomp: Callable[[bytes], bytes]
        if self.codec == 'zlib':
            def comp(d: bytes) -> bytes:
                return zlib.compress(d, level)
            decomp = zlib.decompress
        elif self.codec == 'lzma':
            def comp(d: bytes) -> bytes:
                return lzma.compress(d, preset=level)
            decomp = lzma.decompress
        elif self.codec == 'bz2':
            def comp(d: bytes) -> bytes:
                return bz2.compress(d, level)
            decomp = bz2.decompress
        else:
            zc, decomp = _zstd()

            def comp(d: bytes) -> bytes:
                return zc(d, level)
        self._comp = comp
        self._decomp = decomp

    def dumps(self, value: Any) -> bytes:
        return self._comp(self.inner.dumps(value))

    def loads(self, data: bytes) -> Any:
        return self.inner.loads(self._decomp(data))

    def __getstate__(self) -> dict[str, Any]:
        return {'inner': self.inner, 'codec': self.codec, 'level': self.level}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compressed) and \
            self.__getstate__() == other.__getstate__()

    __hash__ = Serializer.__hash__


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _incremental(codec: str) -> _Decompressor:
    if codec == 'zlib':
        return _ZlibHead()
    if codec == 'lzma':
        return lzma.LZMADecompressor()
    if codec == 'bz2':
        return bz2.BZ2Decompressor()
    raise ValueError(f'unknown codec {codec!r}')


class _ZlibHead:
    """zlib's decompress object with the interface of bz2's and lzma's."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj()
        self._started = False

    @property
    def eof(self) -> bool:
        return self._d.eof

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._started:  # later calls continue with what is held back
            data = self._d.unconsumed_tail
        self._started = True
        return self._d.decompress(data, max(max_length, 0))


def decompress_head(data: bytes, codec: str, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes ``data`` decompresses to, and whether that
    is all of it.

    Memory and time are bounded by ``limit``, however much the data would
    expand (a compression bomb costs no more than a small value), so this is
    how to look into compressed bytes that are not trusted.

    :raises ValueError: for an unknown codec; the codec's own error for
        data it can't decompress (truncated, corrupt)

    >>> bomb = zlib.compress(bytes(10 ** 7))
    >>> head, whole = decompress_head(bomb, 'zlib', 4)
    >>> head, whole, decompress_head(zlib.compress(b'hi'), 'zlib', 4)
    (b'\\x00\\x00\\x00\\x00', False, (b'hi', True))
    """
    if codec == 'zstd':
        import zstandard
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        head = reader.read(limit)
        return head, not reader.read(1)
    d = _incremental(codec)
    parts = [d.decompress(data, limit)]
    size = len(parts[0])
    while not d.eof and size < limit:
        more = d.decompress(b'', limit - size)
        if not more:
            raise EOFError(f'compressed data ended early ({codec})')
        parts.append(more)
        size += len(more)
    # whole when the stream ended here; else one byte more tells
    whole = d.eof or not d.decompress(b'', 1)
    return (parts[0] if len(parts) == 1 else b''.join(parts)), whole


_BASES: dict[str, Callable[[], Serializer]] = {
    'pickle': PickleSerializer,
    'json': JsonSerializer,
    'bytes': BytesSerializer,
    'text': TextSerializer,
}

SerializerSpec = Union[str, Serializer, None]
"""What a stash's ``serializer=`` accepts: a name, an object or ``None``."""


def get_serializer(spec: SerializerSpec = None) -> Serializer:
    """The serializer that ``spec`` names (``None`` means pickle).

    :raises ValueError: for an unknown name or codec (or a ``+`` with none)
    :raises TypeError: for anything that is neither a name nor a serializer
    """
    if spec is None:
        return PickleSerializer()
    if isinstance(spec, Serializer):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f'serializer must be a name or a Serializer, got {spec!r}')
    base, plus, codec = spec.partition('+')
    if plus and not codec:
        raise ValueError(f'no codec after "+" in serializer {spec!r}')
    if base not in _BASES:
        raise ValueError(f'unknown serializer {base!r}; known: '
                         f'{", ".join(sorted(_BASES))}')
    ser = _BASES[base]()
    return Compressed(ser, codec) if codec else ser
