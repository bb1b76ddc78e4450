"""Stash keys <-> file names: a reversible codec that keeps keys inside a folder.

A file-backed stash stores key ``k`` in a file named by a pattern such as
``'{name}.dat'``.  Keys are arbitrary strings, file names are not, so the
key goes through :func:`encode_key` first.  The encoding is chosen so that

* **plain keys map to themselves**: ``item-1`` becomes ``item-1.dat``, the
  same file the original API writes, so folders stay interchangeable;
* **every ``str`` round-trips**: :func:`decode_name` inverts
  :func:`encode_key` exactly, and a name that :func:`encode_key` could not
  have produced decodes to ``None`` (a foreign file, not a key);
* **no key leaves the folder**: the encoded name never holds ``/``, ``\\``,
  NUL, a control character or a surrogate, never starts with ``.`` (so no
  ``..``, no hidden or temporary file), and never ends with ``.`` or space;
* **names are portable**: the characters Windows forbids (``<>:"|?*``) and
  its reserved device names (``CON``, ``NUL``, ``COM1`` ... followed by
  ``.`` or nothing) are escaped too.

The scheme, in full:

1. A character that is unsafe anywhere (the set above, and ``%`` itself),
   a leading ``.``, a trailing ``.`` or space, and the first letter of a
   reserved device name are written as ``%XX``: the upper-case hex of each
   byte of the character's UTF-8 form (surrogates via ``surrogatepass``).
2. The empty key is written :data:`EMPTY_NAME` (``%-``).
3. A name longer than the byte budget is cut, and the cut is followed by
   :data:`LONG_MARK` (``%~``) and 32 hex digits of the key's SHA-256.  Such a
   name cannot be decoded on its own: the stash keeps the full key inside
   the file (see :func:`pack_long_key`), and :func:`decode_name` returns
   ``None`` for it; :func:`is_long_name` tells these names apart.

``%-`` and ``%~`` are not valid escapes, so no rule can produce another's
output.

>>> encode_key('item-1')
'item-1'
>>> encode_key('../etc/passwd')
'%2E.%2Fetc%2Fpasswd'
>>> decode_name('%2E.%2Fetc%2Fpasswd')
'../etc/passwd'
>>> encode_key('100%'), encode_key(''), encode_key('con')
('100%25', '%-', '%63on')
>>> decode_name('.hidden') is None   # never produced by encode_key
True
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from typing import Callable, Optional
from urllib.parse import unquote

from ._files import read_file
from .errors import ForeignFileError

__all__ = ['FileNames', 'encode_key', 'decode_name', 'is_long_name',
           'check_key', 'key_type_error', 'unencodable_key_error',
           'pack_long_key', 'unpack_long_key', 'long_key_payload',
           'read_long_key',
           'folder_names', 'EMPTY_NAME', 'LONG_MARK', 'MAX_NAME_BYTES']

EMPTY_NAME = '%-'
"""The file-name form of the empty key."""

LONG_MARK = '%~'
"""Sits between the cut and the hash in the name of a key too long to hold."""

MAX_NAME_BYTES = 200
"""The default byte budget of an encoded key.

File systems allow 255 bytes per name; hutch keeps room for the pattern's
prefix and suffix and for the temporary name of an atomic write, which
adds about 45 bytes to the final name.
"""

_HASH_CHARS = 32
# characters never allowed in a name (controls, C1 controls, separators,
# the escape character, what Windows forbids, and lone surrogates)
_UNSAFE = '\x00-\x1f\x7f-\x9f/\\\\%<>:"|?*\ud800-\udfff'
_DEVICES = r'(?i:con|prn|aux|nul|com[0-9]|lpt[0-9])'


def _safe_name(end: str) -> str:
    """The regex of a key that is its own file name -- no leading dot, no
    Windows device name, no unsafe character, no trailing dot or space --
    where ``end`` matches what follows the key (``$`` for a bare key)."""
    return rf'(?!\.)(?!{_DEVICES}(?:\.|{end}))[^{_UNSAFE}]+(?<![. ])'


_SAFE = re.compile(_safe_name('$'))
_UNSAFE_CHAR = re.compile(f'[{_UNSAFE}]')
_RESERVED_START = re.compile(rf'{_DEVICES}(?:\.|$)')


def key_type_error(key: object) -> TypeError:
    """The error for a stash key that is not a ``str``: one wording everywhere.

    Hot paths test ``isinstance(key, str)`` inline and raise this only when
    the test fails, so a good key costs no call.

    >>> key_type_error(b'k')
    TypeError("stash keys must be str, got bytes: b'k'")
    """
    return TypeError(f'stash keys must be str, got {type(key).__name__}: {key!r}')


def unencodable_key_error(key: str) -> ValueError:
    """The error for a key with no UTF-8 form (it holds a lone surrogate),
    raised by stashes that store keys as UTF-8 text."""
    return ValueError(f'key {key!r} is not valid Unicode text '
                      '(it holds a lone surrogate) and cannot be stored')


def check_key(key: object) -> str:
    """``key`` itself when it is a ``str``; else :func:`key_type_error`.

    >>> check_key(3)
    Traceback (most recent call last):
    ...
    TypeError: stash keys must be str, got int: 3
    """
    if not isinstance(key, str):
        raise key_type_error(key)
    return key


def _escape(char: str) -> str:
    return ''.join(f'%{b:02X}' for b in char.encode('utf-8', 'surrogatepass'))


def _escape_match(m: re.Match[str]) -> str:
    return _escape(m.group())


def _key_bytes(key: str) -> bytes:
    return key.encode('utf-8', 'surrogatepass')


def encode_key(key: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """The file-name form of ``key`` (without the pattern around it).

    :param key: any ``str``
    :param max_bytes: the most UTF-8 bytes the result may take; longer
        names are cut and hashed (see the module doc)
    :raises TypeError: when ``key`` is not a ``str``

    >>> name = encode_key('x' * 300)
    >>> len(name), name[:3], is_long_name(name)
    (200, 'xxx', True)
    """
    if not isinstance(key, str):
        raise key_type_error(key)
    if _SAFE.fullmatch(key) is not None:
        name = key
    else:
        if not key:
            return EMPTY_NAME
        name = _UNSAFE_CHAR.sub(_escape_match, key)
        if name[0] == '.':
            name = '%2E' + name[1:]
        if name[-1] in '. ':
            name = name[:-1] + _escape(name[-1])
        if _RESERVED_START.match(name):
            name = _escape(name[0]) + name[1:]
    if len(name) * 4 > max_bytes and len(name.encode('utf-8')) > max_bytes:
        name = _long_name(key, name, max_bytes)
    return name


def _long_name(key: str, name: str, max_bytes: int) -> str:
    keep = max_bytes - len(LONG_MARK) - _HASH_CHARS
    if keep < 1:
        raise ValueError(f'a name budget of {max_bytes} bytes is too small')
    head = name.encode('utf-8')[:keep].decode('utf-8', 'ignore')
    pct = head.rfind('%', len(head) - 2)
    if pct >= 0:  # never cut an escape in half
        head = head[:pct]
    digest = hashlib.sha256(_key_bytes(key)).hexdigest()[:_HASH_CHARS]
    return f'{head}{LONG_MARK}{digest}'


def is_long_name(name: str) -> bool:
    """Whether ``name`` is the cut-and-hashed form of a long key."""
    return LONG_MARK in name


def decode_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> Optional[str]:
    """The key whose encoding is ``name``; ``None`` when there is none.

    ``None`` also comes back for a long key's name (:func:`is_long_name`),
    whose key lives in the file.

    >>> decode_name('item-1'), decode_name('%-'), decode_name('a%2e')
    ('item-1', '', None)
    """
    if _SAFE.fullmatch(name) is not None:
        key: Optional[str] = name
    elif name == EMPTY_NAME:
        return ''
    elif LONG_MARK in name:
        return None
    else:
        try:
            key = unquote(name, errors='surrogatepass')
        except UnicodeDecodeError:
            return None
    # only the canonical form counts: a name encode_key would write
    if key is not None and encode_key(key, max_bytes) != name:
        return None
    return key


_LONG_HEADER = b'\x00hutch-long-key\x00'
_LEN = struct.Struct('>I')
_KEY_PEEK = 4096  # a long key's header is read in one go up to this


def pack_long_key(key: str, payload: bytes) -> bytes:
    """The bytes to store for a long key: a header with the key, then data.

    >>> unpack_long_key(pack_long_key('k' * 999, b'data')) == ('k' * 999, b'data')
    True
    """
    raw = _key_bytes(key)
    return b''.join((_LONG_HEADER, _LEN.pack(len(raw)), raw, payload))


def unpack_long_key(data: bytes) -> Optional[tuple[str, bytes]]:
    """``(key, payload)`` from :func:`pack_long_key` bytes; ``None`` if not."""
    start = len(_LONG_HEADER) + _LEN.size
    if not data.startswith(_LONG_HEADER) or len(data) < start:
        return None
    (size,) = _LEN.unpack_from(data, len(_LONG_HEADER))
    raw = data[start:start + size]
    if len(raw) != size:
        return None
    try:
        key = raw.decode('utf-8', 'surrogatepass')
    except UnicodeDecodeError:
        return None
    return key, data[start + size:]


def long_key_payload(key: str, data: bytes) -> Optional[bytes]:
    """The stored value of ``key`` in ``data``, the bytes of a long key's
    file (its header taken off), or ``None`` when they hold another key's
    value (two long keys may share a file name) or no header at all.

    >>> long_key_payload('k' * 999, pack_long_key('k' * 999, b'data'))
    b'data'
    >>> long_key_payload('other', pack_long_key('k' * 999, b'data')) is None
    True
    """
    unpacked = unpack_long_key(data)
    if unpacked is None or unpacked[0] != key:
        return None
    return unpacked[1]


def read_long_key(path: str) -> Optional[str]:
    """The key kept in the file at ``path`` by :func:`pack_long_key`.

    Reads the header only, never the payload, and never more than the file
    holds, whatever length the header claims; ``None`` when the file is
    missing, is not a regular file, or holds no such header.
    """
    start = len(_LONG_HEADER) + _LEN.size
    try:
        head = read_file(path, limit=start + _KEY_PEEK)
        if len(head) < start or not head.startswith(_LONG_HEADER):
            return None
        (size,) = _LEN.unpack_from(head, len(_LONG_HEADER))
        if size > _KEY_PEEK:  # a long key indeed: read just that much more
            head = read_file(path, limit=start + size)
    except (FileNotFoundError, NotADirectoryError, ForeignFileError):
        return None
    raw = head[start:start + size]
    if len(raw) != size:
        return None
    try:
        return raw.decode('utf-8', 'surrogatepass')
    except UnicodeDecodeError:
        return None


class FileNames:
    """The file names of keys under a pattern's prefix and suffix, both ways.

    :param prefix: the text before the key in a file name
    :param suffix: the text after it
    :param max_bytes: the byte budget of the encoded key
    :param read_key: the key kept in the file at a path, for long keys
        (:func:`read_long_key` by default; a store that is no local folder
        gives its own)

    >>> names = FileNames('data-', '.dat')
    >>> names.name_of('a/b'), names.keys_of(['data-1.dat', 'data-a%2Fb.dat',
    ...                                       'data-.x.dat', 'other.txt'])
    (('data-a%2Fb.dat', False), ['1', 'a/b'])
    """

    def __init__(self, prefix: str = '', suffix: str = '.dat',
                 max_bytes: int = MAX_NAME_BYTES,
                 read_key: Callable[[str], Optional[str]] = read_long_key
                 ) -> None:
        self.prefix = prefix
        self.read_key = read_key
        self.suffix = suffix
        self.max_bytes = max_bytes
        self._quick = max_bytes // 4  # no name this long can exceed the budget
        pre, suf = re.escape(prefix), re.escape(suffix)
        start, end = r'(?<![^\x00])', r'(?![^\x00])'
        # listings are names joined by NUL, which no file name holds: one
        # regex pass then finds every plain key
        self._plain = re.compile(
            rf'{start}{pre}({_safe_name(suf + end)}){suf}{end}')
        self._escaped = re.compile(rf'{start}{pre}([^\x00]*?%[^\x00]*){suf}{end}')

    def name_of(self, key: str) -> tuple[str, bool]:
        """The file name of ``key``, and whether the key is long (see module)."""
        if type(key) is str and len(key) <= self._quick and \
                _SAFE.fullmatch(key) is not None:
            return f'{self.prefix}{key}{self.suffix}', False
        name = encode_key(key, self.max_bytes)
        return f'{self.prefix}{name}{self.suffix}', LONG_MARK in name

    def keys_of(self, names: list[str], folder: str = '') -> list[str]:
        """The keys among file ``names`` (those in ``folder``, for long keys).

        Names that :meth:`name_of` could not have made are left out.
        """
        joined = '\x00'.join(names)
        keys: list[str] = self._plain.findall(joined)
        if keys and max(map(len, keys)) > self._quick:
            budget = self.max_bytes
            keys = [k for k in keys if len(k.encode('utf-8')) <= budget]
        if '%' in joined:
            for core in self._escaped.findall(joined):
                key = self.key_of(core, folder)
                if key is not None:
                    keys.append(key)
        return keys

    def key_of(self, core: str, folder: str = '') -> Optional[str]:
        """The key whose encoded form is ``core``, if it is one."""
        if LONG_MARK not in core:
            return decode_name(core, self.max_bytes)
        key = self.read_key(
            os.path.join(folder, f'{self.prefix}{core}{self.suffix}'))
        if key is None or encode_key(key, self.max_bytes) != core:
            return None
        return key


#: the longest file name (in bytes) the common file systems take
NAME_MAX = 255
#: the bytes an atomic write's temporary name adds to a file name
TEMP_OVERHEAD = 50


def folder_names(prefix: str, suffix: str,
                 read_key: Callable[[str], Optional[str]] = read_long_key
                 ) -> FileNames:
    """The :class:`FileNames` of a folder stash whose pattern puts
    ``prefix`` and ``suffix`` around a key: the key gets what a file name
    has room for once they and a temporary name's additions are counted.
    A folder copied to object storage, or back, keeps its names.

    >>> folder_names('', '.dat').max_bytes
    201
    """
    used = len((prefix + suffix).encode('utf-8'))
    return FileNames(prefix, suffix, NAME_MAX - TEMP_OVERHEAD - used,
                     read_key)
