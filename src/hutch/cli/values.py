"""Reading a stored value the way the ``hutch`` command does: bounded, and
without running code from the stash.

The serializer is the one given, the one the kind always uses, or sniffed
from the bytes; a pickle is read from its opcodes
(:func:`~hutch.cli.pickled.read_pickle`) unless the caller asks to
unpickle it.  ``hutch show`` prints what :func:`read_value` returns, and
``hutch check --values`` reads every value with it.
"""

from __future__ import annotations

from typing import Any, Optional

from .._layout import is_layout
from .._layout import pickled as layout_pickle
from ..errors import PersistableError
from ..serial import get_serializer
from . import render
from .pickled import read_pickle
from .targets import Target

__all__ = ['TooLarge', 'read_bytes', 'read_value']

RAW_HINT = '; --raw writes the stored bytes'
"""What ``hutch show`` adds to an error reading a value."""


class TooLarge(PersistableError):
    """A value larger than :data:`~hutch.cli.render.SHOW_BYTES`, more than
    the command reads."""


def read_bytes(target: Target, key: str, limit: Optional[int] = None) -> bytes:
    """The bytes stored under ``key`` (see :meth:`Target.raw`).

    :raises TargetError: when there is no such key
    """
    data = target.raw(key, limit)
    if data is None:
        raise target.missing(key)
    return data


def read_value(target: Target, key: str, serializer: Optional[str] = None,
               unpickle: bool = False, hint: str = RAW_HINT) -> Any:
    """The value of ``key``, read with ``serializer`` (``None``: the kind's
    own or the sniffed one); a pickle is really unpickled only when
    ``unpickle`` is true.

    :param hint: what to add to an error, to say what can be done instead
    :raises PersistableError: naming the key and file, when it can't be read
        (:class:`TooLarge` when it is larger than hutch reads)
    """
    data = read_bytes(target, key, render.SHOW_BYTES)
    if is_layout(data):
        return _read_layout(target, key, data, unpickle, hint)
    if len(data) > render.SHOW_BYTES:
        raise TooLarge(
            f'the value is larger than {render.human_bytes(render.SHOW_BYTES)}'
            f', more than hutch reads{hint}', key=key, path=target.where(key))
    return _decode(target, key, data, serializer, unpickle, hint)


def _decode(target: Target, key: str, data: bytes, given: Optional[str],
            unpickle: bool, hint: str) -> Any:
    name = given or target.serializer_hint or render.sniff_serializer(data)
    guessed = not (given or target.serializer_hint)
    path = target.where(key)
    base, _, codec = name.partition('+')
    limit = render.SHOW_BYTES
    try:
        plain, whole = render.plain_bytes(data, codec, limit)
    except Exception as e:
        raise PersistableError(
            f'cannot decompress the value as {name}: {type(e).__name__}: '
            f'{e}{hint}', key=key, path=path) from e
    if not whole:
        raise TooLarge(
            f'the value is larger than {render.human_bytes(limit)} '
            f'uncompressed, more than hutch reads{hint}', key=key, path=path)
    try:
        if base == 'pickle' and not unpickle:
            return read_pickle(plain)
        return get_serializer(base).loads(plain)
    except Exception as e:
        if guessed and base == 'json' and len(plain) > render.SNIFF_BYTES:
            # sniffed from the value's start only: text that begins like JSON
            return get_serializer('text').loads(plain)
        raise PersistableError(
            f'cannot read the value as {name}: {type(e).__name__}: {e}{hint}',
            key=key, path=path) from e


def _read_layout(target: Target, key: str, head: bytes, unpickle: bool,
                 hint: str) -> Any:
    """A large value (a pickle followed by its buffers): the pickle leads,
    so it is read without its buffers, however large they are -- unless
    ``unpickle`` loads the whole value."""
    try:
        if unpickle:
            return get_serializer('pickle').loads(read_bytes(target, key))
        pickle = layout_pickle(head)
        assert pickle is not None  # head is a layout
        return read_pickle(pickle)
    except PersistableError:
        raise
    except Exception as e:
        raise PersistableError(
            f'cannot read the large value: {type(e).__name__}: {e}{hint}',
            key=key, path=target.where(key)) from e
