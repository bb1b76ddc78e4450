"""What a memoized call keeps in its stash: the result and how it was made.

Each entry holds the result together with its metadata -- the function, a
short text of the arguments, when it was computed, how long that took and
the digest of the code that computed it -- so a store can be inspected
later (``hutch ls`` / ``hutch info`` show it) and an entry can be judged
stale (``expire=``, ``validate=``).

In a stash an entry is a plain tuple headed by :data:`MARK`, so any
serializer that stores tuples or lists (pickle, JSON) can hold it, and a
hit unpacks it without building an object.

>>> e = MemoEntry('pkg.area', '(2.0,)', 1700000000.0, 0.25, 'c0de', 3.14)
>>> MemoEntry.from_stored(e.to_stored()) == e
True
>>> MemoEntry.from_stored(['not', 'an', 'entry']) is None
True
"""

from __future__ import annotations

import json
import pickletools
import time
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ['MemoEntry', 'MARK', 'peek', 'function_of_key']

#: the first item of every stored entry (and the layout's version)
MARK = 'hutch.memo/1'

#: the longest argument text kept in an entry
ARGS_TEXT_LIMIT = 200


@dataclass(frozen=True)
class MemoEntry:
    """One memoized result and its metadata.

    :param function: the module and qualified name of the function
    :param args: a short text of the arguments (for people, not for keys)
    :param computed_at: when the result was computed (seconds since the
        epoch, as :func:`time.time`)
    :param duration: how many seconds computing it took
    :param code: the digest of the function's code, or the pinned version
    :param value: the result itself
    """

    function: str
    args: str
    computed_at: float
    duration: float
    code: str
    value: Any

    @property
    def age(self) -> float:
        """Seconds since the result was computed."""
        return time.time() - self.computed_at

    def to_stored(self) -> tuple[Any, ...]:
        """The form kept in a stash."""
        return (MARK, self.function, self.args, self.computed_at,
                self.duration, self.code, self.value)

    @classmethod
    def from_stored(cls, stored: Any) -> Optional[MemoEntry]:
        """The entry ``stored`` holds, or ``None`` when it is no entry."""
        if (type(stored) in (tuple, list) and len(stored) == 7
                and stored[0] == MARK):
            return cls(*stored[1:])
        return None

    def describe(self) -> str:
        """One line for people: function, arguments, when and how long."""
        when = time.strftime('%Y-%m-%d %H:%M:%S',
                             time.localtime(self.computed_at))
        return (f'{self.function}{self.args} computed {when} '
                f'in {self.duration:.3g}s')


#: pickle opcodes that push the text and numbers an entry starts with
_PUSHES = frozenset({'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8',
                     'UNICODE', 'BINFLOAT', 'FLOAT'})
#: pickle opcodes that only frame or remember what was pushed
_NEUTRAL = frozenset({'PROTO', 'FRAME', 'MARK', 'MEMOIZE', 'PUT', 'BINPUT',
                      'LONG_BINPUT'})


def peek(data: bytes) -> Optional[MemoEntry]:
    """The metadata of a stored entry, read from its bytes without running
    anything: a pickle is parsed (never unpickled) up to the metadata, JSON
    is decoded.  ``None`` when ``data`` holds no entry in either form; the
    entry's ``value`` is then ``None``, unread.

    >>> import pickle
    >>> e = MemoEntry('pkg.area', '(2.0,)', 1700000000.0, 0.25, 'c0de', 3.14)
    >>> peek(pickle.dumps(e.to_stored())).args
    '(2.0,)'
    >>> peek(b'not an entry') is None
    True
    """
    head: list[Any] = []
    try:
        if data[:1] == b'[':
            stored = json.loads(data)
            head = list(stored[:6]) if isinstance(stored, list) else []
        else:
            for op, arg, _ in pickletools.genops(data):
                if op.name in _PUSHES:
                    head.append(arg)
                    if len(head) == 6:
                        break
                elif op.name not in _NEUTRAL:
                    break
    except Exception:  # not a pickle or JSON at all: simply no entry
        return None
    if len(head) != 6 or head[0] != MARK:
        return None
    _, function, args, computed, duration, code = head
    if not (isinstance(function, str) and isinstance(args, str)
            and isinstance(computed, float) and isinstance(duration, float)
            and isinstance(code, str)):
        return None
    return MemoEntry(function, args, computed, duration, code, None)


def function_of_key(key: str) -> Optional[str]:
    """The function a memoized result's key belongs to, or ``None``.

    >>> function_of_key('memo:pkg.area:c0de:(2.0,)')
    'pkg.area'
    """
    if not key.startswith('memo:'):
        return None
    parts = key.split(':', 3)
    return parts[1] if len(parts) == 4 else None


def short_repr(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The arguments of a call as text, cut to :data:`ARGS_TEXT_LIMIT`.

    >>> short_repr((1, 'a'), {'n': 2})
    "(1, 'a', n=2)"
    """
    if not kwargs and len(args) == 1:  # the common call, made on every miss
        return f'({_short(args[0])})'  # at most 62 characters
    parts = [_short(a) for a in args]
    parts += [f'{k}={_short(v)}' for k, v in kwargs.items()]
    text = '(' + ', '.join(parts) + ')'
    if len(text) > ARGS_TEXT_LIMIT:
        text = text[:ARGS_TEXT_LIMIT - 4] + '...)'
    return text


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not fail the call
        text = f'<{type(value).__name__}>'
    return text if len(text) <= 60 else text[:57] + '...'
