"""The file layout of large values: a pickle followed by its buffers.

A pickle of protocol 5 can leave the memory of objects that expose it
(numpy arrays, and what is built on them) *out of band*, as
:class:`pickle.PickleBuffer` objects.  hutch writes such a value as one
file in this layout (all integers little-endian)::

    magic     16 bytes   b'\\x00hutch-buffers' then the version byte (1)
    sizes      8 bytes   the length of the pickle
               8 bytes   the number of buffers, n
               8 bytes   the length of each buffer, n times
    padding              zero bytes up to the next multiple of 64
    pickle               the pickle, its buffers taken out
    padding, buffer      for each buffer: zero bytes up to the next
                         multiple of 64, then the buffer's bytes

Offsets count from the first byte of the magic, so each buffer starts
64-byte aligned when the layout starts a file.  No pickle starts with a zero
byte, so a reader tells this layout from a plain pickle by its first bytes,
and plain pickles (and the files of the original package) stay readable.
Files are written whole and renamed into place, so a reader sees a complete
file or none; one that is shorter than its sizes say is reported as corrupt.

Reading allocates each buffer once and reads the file straight into it
(``readinto``); with ``mmap=True`` the buffers are read-only views of the
mapped file, so a load costs the same whatever the size.

>>> import io
>>> raw = pickle.PickleBuffer(bytearray(b'raw' * 30000))
>>> chunks = encode(('text', raw), threshold=1024)
>>> data = b''.join(chunks)
>>> data[:14], len(chunks) > 2
(b'\\x00hutch-buffers', True)
>>> bytes(decode(data)[1][:6])
b'rawraw'
>>> read(io.BytesIO(data))[0]
'text'
"""

from __future__ import annotations

import io
import mmap as _mmap
import os
import pickle
import struct
from typing import IO, Any, Optional, Union

__all__ = ['MAGIC', 'VERSION', 'ALIGN', 'THRESHOLD', 'Chunk', 'is_layout',
           'encode', 'loads', 'decode', 'read', 'pickled', 'describe']

Chunk = Union[bytes, memoryview]

MAGIC = b'\x00hutch-buffers'
"""The first bytes of a file in this layout (then the version byte)."""

VERSION = 1
"""The version of the layout that this module writes and reads."""

ALIGN = 64
"""Every buffer starts at a multiple of this many bytes."""

THRESHOLD = 64 * 1024
"""Buffers smaller than this stay inside the pickle (in band)."""

_HEAD = len(MAGIC) + 1
_SIZES = struct.Struct('<QQ')
_LEN = struct.Struct('<Q')
_PAD = bytes(ALIGN)
# buffers this large get pages of their own from the kernel; smaller ones
# come from the heap, whose allocator reuses freed memory up to this size
# (glibc's largest dynamic mmap threshold): measured, a 1 MB bytearray
# reads ten times faster than fresh pages, a 100 MB one seven times slower
# than fresh huge pages
_BIG = 32 << 20
_HUGE: Optional[int] = getattr(_mmap, 'MADV_HUGEPAGE', None)
_MAX_READ = 1 << 30  # bytes per read call (below the kernel's own limit)
_MAX_BUFFERS = 1 << 20  # so a damaged header can't ask for a huge one


def _pad(n: int) -> int:
    return -n % ALIGN


def is_layout(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts this layout."""
    return head[:len(MAGIC)] == MAGIC


def encode(value: Any, protocol: int = 5,
           threshold: int = THRESHOLD) -> list[Chunk]:
    """``value`` as chunks to write one after another: a plain pickle (one
    chunk) when nothing in it is large enough to go out of band, else this
    layout, whose buffers are views of the value's own memory (not copies).

    :raises pickle.PicklingError: and whatever pickling ``value`` raises
    """
    if protocol < 5:
        return [pickle.dumps(value, protocol)]
    # the common case, no buffer at all, costs one plain pickling; a value
    # with buffers is pickled again, keeping the small ones in band
    found: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol, buffer_callback=found.append)
    if not found:
        return [data]
    if all(b.raw().nbytes < threshold for b in found):
        return [pickle.dumps(value, protocol)]
    buffers: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < threshold:
            return True  # in band
        buffers.append(view)
        return False

    data = pickle.dumps(value, protocol, buffer_callback=out_of_band)
    head = b''.join((MAGIC, bytes((VERSION,)),
                     _SIZES.pack(len(data), len(buffers)),
                     *(_LEN.pack(b.nbytes) for b in buffers)))
    chunks: list[Chunk] = [head, _PAD[:_pad(len(head))], data]
    at = len(head) + _pad(len(head)) + len(data)
    for view in buffers:
        chunks.append(_PAD[:_pad(at)])
        chunks.append(view)
        at += _pad(at) + view.nbytes
    return [c for c in chunks if len(c)]


def _check_count(count: int) -> None:
    if not 1 <= count <= _MAX_BUFFERS:
        raise ValueError(f'a large value of {count} buffers: not one hutch '
                         f'writes (1 .. {_MAX_BUFFERS})')


def _sizes(head: bytes) -> tuple[int, list[int], int]:
    """The pickle's length, the buffers' lengths and the header's size from
    the first bytes of a layout (which must hold the whole header)."""
    if len(head) < _HEAD + _SIZES.size:
        raise ValueError('truncated header of a large value')
    version = head[len(MAGIC)]
    if version != VERSION:
        raise ValueError(f'large value layout version {version} is not '
                         f'known (this hutch reads version {VERSION})')
    size, count = _SIZES.unpack_from(head, _HEAD)
    _check_count(count)
    end = _HEAD + _SIZES.size + count * _LEN.size
    if len(head) < end:
        raise ValueError('truncated header of a large value')
    lengths = [_LEN.unpack_from(head, _HEAD + _SIZES.size + i * _LEN.size)[0]
               for i in range(count)]
    return size, lengths, end + _pad(end)


def _header_size(head: bytes) -> int:
    """How many bytes the header (with its padding) takes, from its start."""
    if len(head) < _HEAD + _SIZES.size:
        raise ValueError('truncated header of a large value')
    count: int = _SIZES.unpack_from(head, _HEAD)[1]
    _check_count(count)
    end = _HEAD + _SIZES.size + count * _LEN.size
    return end + _pad(end)


def _spans(size: int, lengths: list[int], start: int
           ) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Where the pickle and each buffer lie, as ``(offset, length)``."""
    pickled = (start, size)
    at = start + size
    spans = []
    for n in lengths:
        at += _pad(at)
        spans.append((at, n))
        at += n
    return pickled, spans


def loads(data: Union[bytes, memoryview]) -> Any:
    """The value of ``data``: a plain pickle or a whole layout in memory
    (telling them apart costs nothing until the pickle fails to load).

    >>> loads(pickle.dumps([1, 2]))
    [1, 2]
    """
    try:
        return pickle.loads(data)
    except pickle.UnpicklingError:
        if is_layout(bytes(data[:len(MAGIC)])):
            return decode(data)
        raise


def decode(data: Union[bytes, memoryview]) -> Any:
    """The value of a whole layout held in memory (its buffers are views of
    ``data``, not copies).

    :raises ValueError: for a truncated or unknown layout
    """
    view = memoryview(data)
    size, lengths, start = _sizes(bytes(view[:_header_size(bytes(view[:64]))]))
    (at, n), spans = _spans(size, lengths, start)
    end = spans[-1][0] + spans[-1][1] if spans else at + n
    if len(view) < end:
        raise ValueError(f'large value truncated: {len(view)} of {end} bytes')
    return pickle.loads(view[at:at + n],
                        buffers=[view[o:o + m] for o, m in spans])


def _new_buffer(n: int) -> Union[bytearray, _mmap.mmap]:
    """Writable memory of ``n`` bytes that a read fills.

    Large ones are private anonymous pages: the kernel zeroes them only as
    they are touched (``bytearray`` would zero them first, one more pass),
    and asked for huge pages they take a fault per 2 MiB instead of per
    4 KiB, which makes the difference between reading at memory speed and
    at a fifth of it (the same advice numpy gives its own large arrays).
    Smaller ones are ``bytearray`` objects from the heap.
    """
    if n < _BIG or not hasattr(_mmap, 'MAP_PRIVATE'):
        return bytearray(n)
    memory = _mmap.mmap(-1, n, flags=_mmap.MAP_PRIVATE | _mmap.MAP_ANONYMOUS)
    if _HUGE is not None:
        try:
            memory.madvise(_HUGE)
        except OSError:  # advice only: a kernel without huge pages says no
            pass
    return memory


def _fill(file: IO[bytes], view: memoryview) -> None:
    """Read exactly ``len(view)`` bytes of ``file`` into ``view``."""
    got = 0
    total = len(view)
    while got < total:
        n = file.readinto(view[got:got + _MAX_READ])  # type: ignore[attr-defined]
        if not n:
            raise ValueError('large value truncated: the file ends '
                             f'{total - got} bytes short')
        got += n


def read(file: IO[bytes], mmap: bool = False) -> Any:
    """The value stored from ``file``'s position on: this layout or a plain
    pickle.

    :param file: a binary file open for reading (unbuffered is best: the
        buffers are read straight into their final memory)
    :param mmap: return the buffers as read-only views of the mapped file,
        which costs the same for any size; the file must be a real file
        that is never changed in place (hutch only ever replaces files)
    :raises ValueError: for a truncated or unknown layout
    """
    base = file.tell()
    first = file.read(64)
    if not is_layout(first):
        file.seek(base)
        return pickle.loads(file.read())
    header = first
    need = _header_size(first)
    if need > len(header):
        header += file.read(need - len(header))
    size, lengths, start = _sizes(header)
    (at, n), spans = _spans(size, lengths, start)
    end = base + spans[-1][0] + spans[-1][1]
    available = _size_of(file)
    if available is not None and available < end:
        # before any memory is taken for what a damaged header claims
        raise ValueError(f'large value truncated: {available} of {end} bytes')
    file.seek(base + at)
    pickled = bytearray(n)
    _fill(file, memoryview(pickled))
    if mmap:
        return _mapped(file, base, pickled, spans)
    buffers = []
    pos = at + n
    for offset, length in spans:
        if offset != pos:
            file.seek(base + offset)
        memory = _new_buffer(length)
        _fill(file, memoryview(memory))
        buffers.append(memory)
        pos = offset + length
    return pickle.loads(pickled, buffers=buffers)


def _size_of(file: IO[bytes]) -> Optional[int]:
    """The size of ``file`` when it is a real file, else ``None``."""
    try:
        fd = file.fileno()
    except (AttributeError, io.UnsupportedOperation):  # in memory: no size
        return None
    return os.fstat(fd).st_size


def _mapped(file: IO[bytes], base: int, pickled: bytearray,
            spans: list[tuple[int, int]]) -> Any:
    """The value with its buffers as read-only views of the mapped file."""
    mapped = _mmap.mmap(file.fileno(), 0, access=_mmap.ACCESS_READ)
    end = base + spans[-1][0] + spans[-1][1]
    if len(mapped) < end:
        size = len(mapped)
        mapped.close()
        raise ValueError(f'large value truncated: {size} of {end} bytes')
    view = memoryview(mapped).toreadonly()
    return pickle.loads(pickled, buffers=[
        view[base + o:base + o + m] for o, m in spans])


def pickled(head: bytes) -> Optional[bytes]:
    """The pickle of a layout, its buffers left out, from the file's first
    bytes (``None`` when ``head`` is not a layout), for tools that read a
    pickle without running it: each buffer shows as a ``NEXT_BUFFER``.

    >>> import pickletools
    >>> head = b''.join(encode(['a', pickle.PickleBuffer(bytes(70000))]))
    >>> 'NEXT_BUFFER' in ''.join(op.name for op, _, _ in
    ...                          pickletools.genops(pickled(head)))
    True

    :raises ValueError: when ``head`` ends before the pickle does
    """
    if not is_layout(head):
        return None
    size, lengths, start = _sizes(head)
    if len(head) < start + size:
        raise ValueError(f'the pickle of this large value ends at byte '
                         f'{start + size}, past the {len(head)} given')
    return bytes(head[start:start + size])


def describe(head: bytes) -> Optional[str]:
    """A one-line summary of a layout from its first bytes (``None`` when
    ``head`` is not one), for tools that show files without loading them.

    >>> describe(b''.join(encode(pickle.PickleBuffer(bytearray(70000)))))
    'hutch large value layout v1: 1 buffer(s), 70000 bytes out of band'
    """
    if not is_layout(head):
        return None
    try:
        _, lengths, _ = _sizes(head)
    except ValueError as e:
        return f'hutch large value layout: {e}'
    return (f'hutch large value layout v{VERSION}: {len(lengths)} buffer(s), '
            f'{sum(lengths)} bytes out of band')

