"""Stable keys of argument values: the same value gives the same key anywhere.

A memoized call is found again by a key computed from its arguments, so the
key must not depend on the process, the machine or the Python run: never on
:func:`hash` (salted per run for ``str``), ``id()`` or the order in which a
dict or a set was filled.  :func:`encode` turns a value into a canonical
text that is then digested by :func:`digest`.

What is keyed, and by what:

* ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``:
  their ``repr``, which tells the types apart (``1``, ``1.0``, ``True`` and
  ``'1'`` are four keys);
* ``tuple``, ``list``: their items in order (a tuple and a list differ);
* ``dict``, ``set``, ``frozenset``: their items in any order;
* dataclasses: their class and fields; enums: their class and member name;
* paths, dates and times, ``Decimal``, ``Fraction``, ``UUID``, ``range``:
  their class and text form;
* numpy arrays and scalars: dtype, shape and content;
* pandas ``DataFrame``, ``Series``, ``Index``: values, index, columns,
  names and dtypes.

numpy and pandas are never imported here: an argument can only be one of
their objects when its module is already loaded.  Anything else is refused
with :class:`Unkeyable`, which the caller turns into a ``TypeError`` naming
the argument.

>>> encode({'b': [1, 2.0], 'a': None}) == encode({'a': None, 'b': [1, 2.0]})
True
>>> encode((1, '1', 1.0, True))
"(1, '1', 1.0, True)"
>>> encode((1, [2]))
'(1,[2],)'
>>> digest(['x', {3, 1, 2}])
'2d73dbb940bdfc4f739136deea55593c'
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import hashlib
import pathlib
import sys
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ['Unkeyable', 'encode', 'digest', 'compact', 'SCALARS']

#: bytes of the digest (32 hex digits): collisions are out of reach
DIGEST_SIZE = 16

#: the longest canonical text :func:`compact` keeps as it is
SHORT_TEXT = 64


class Unkeyable(Exception):
    """A value (or a part of it) that has no stable key; says its type."""

    def __init__(self, value: object) -> None:
        self.value_type = type(value)
        super().__init__(
            f'{self.value_type.__module__}.{self.value_type.__qualname__}')


def _name(tp: type) -> str:
    return f'{tp.__module__}.{tp.__qualname__}'


#: types whose ``repr`` is their key (and tells them apart from each other)
SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})


def _seq(value: Any) -> str:
    """A tuple or list: its ``repr`` when it holds only scalars (the common
    case, and the fast one), else its items' keys in order."""
    for item in value:
        if type(item) not in SCALARS:
            break
    else:
        return repr(value)
    open_, close = ('(', ')') if type(value) is tuple else ('[', ']')
    return open_ + ''.join([encode(i) + ',' for i in value]) + close


def _mapping(value: dict[Any, Any]) -> str:
    items = sorted([encode(k) + ':' + encode(v) for k, v in value.items()])
    return '{' + ','.join(items) + '}'


def _set(value: Any) -> str:
    tag = 'set' if type(value) is set else 'frozenset'
    return tag + '{' + ','.join(sorted([encode(v) for v in value])) + '}'


def _blob(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).hexdigest()


#: exact types keyed by a function of the value (the common, fast cases)
_EXACT: dict[type, Callable[[Any], str]] = {
    type(None): repr, bool: repr, int: repr, float: repr, complex: repr,
    str: repr, bytes: repr,
    bytearray: lambda v: 'bytearray' + repr(bytes(v)),
    tuple: _seq, list: _seq,
    dict: _mapping, set: _set, frozenset: _set,
    range: repr,
}

#: classes keyed by their name and text form
_TEXT_FORM: tuple[type, ...] = (
    pathlib.PurePath, datetime.date, datetime.time, datetime.timedelta,
    decimal.Decimal, fractions.Fraction, uuid.UUID)


#: the plain types whose subclasses are keyed like them
_PLAIN_BASES: tuple[type, ...] = (str, int, float, bytes, tuple, list, dict)


def encode(value: Any) -> str:
    """The canonical text of ``value``; equal values give equal texts.

    :raises Unkeyable: for a value (or part) that has no stable key
    """
    exact = _EXACT.get(type(value))
    if exact is not None:
        return exact(value)
    return _encode_other(value)


def digest(value: Any) -> str:
    """32 hex digits that stand for ``value`` (see :func:`encode`)."""
    return _blob(encode(value).encode('utf-8', 'surrogatepass'))


def compact(value: Any) -> str:
    """The key text of ``value``: its canonical text when that is short
    (at most :data:`SHORT_TEXT` characters, so keys stay readable), else
    ``#`` and its :func:`digest`.  The two forms never meet: no canonical
    text starts with ``#``.

    >>> compact((2, 'a'))
    "(2, 'a')"
    >>> compact(('a' * 80,))
    '#f7b0306e6f02fe2df7744775668aa274'
    """
    text = encode(value)
    if len(text) <= SHORT_TEXT:
        return text
    return '#' + _blob(text.encode('utf-8', 'surrogatepass'))


def _encode_other(value: Any) -> str:
    tp = type(value)
    if isinstance(value, enum.Enum):
        return f'enum:{_name(tp)}.{value.name}'
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name)
                  for f in dataclasses.fields(value)}
        return f'dc:{_name(tp)}' + _mapping(fields)
    if isinstance(value, _TEXT_FORM):
        text = value.isoformat() if isinstance(
            value, (datetime.date, datetime.time)) else str(value)
        if isinstance(value, (datetime.datetime, datetime.time)) \
                and value.tzinfo is not None:
            text += '@' + repr(value.tzinfo)
        return f'{_name(tp)}:{text!r}'
    numpy = sys.modules.get('numpy')
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return _ndarray(numpy, value)
        if isinstance(value, numpy.generic):
            return _ndarray(numpy, numpy.asarray(value)) + 'scalar'
    pandas = sys.modules.get('pandas')
    if pandas is not None:
        if isinstance(value, (pandas.DataFrame, pandas.Series,
                              pandas.Index)):
            return _pandas(pandas, value)
    # subclasses of the plain types (str, int, tuple ...): keyed like their
    # base, under their own class name
    for base in _PLAIN_BASES:
        if isinstance(value, base):
            make: Any = base
            return f'{_name(tp)}:' + _EXACT[base](make(value))
    raise Unkeyable(value)


def _ndarray(numpy: Any, array: Any) -> str:
    head = f'nd:{array.dtype.str}{array.dtype.descr!r}{array.shape!r}:'
    if array.dtype.hasobject:
        return head + encode(array.tolist())
    return head + _blob(numpy.ascontiguousarray(array).tobytes())


def _pandas(pandas: Any, value: Any) -> str:
    rows = pandas.util.hash_pandas_object(
        value, index=not isinstance(value, pandas.Index), categorize=False)
    parts = [f'pd:{_name(type(value))}', _blob(rows.to_numpy().tobytes())]
    if isinstance(value, pandas.DataFrame):
        parts += [_pandas(pandas, value.columns),
                  encode([repr(d) for d in value.dtypes]),
                  _pandas(pandas, value.index)]
    elif isinstance(value, pandas.Series):
        parts += [encode(value.name), repr(value.dtype),
                  _pandas(pandas, value.index)]
    else:
        parts += [encode(list(value.names)), repr(value.dtype)]
    return '(' + ','.join(parts) + ')'
