"""What a pickle holds, read without running it.

Unpickling calls whatever functions the pickle names, so ``hutch show``
never unpickles unless asked.  :func:`read_pickle` walks the pickle's
opcodes instead (with :func:`pickletools.genops`, which only decodes them)
and plays the unpickler's stack machine with stand-ins: plain data -- ``None``,
booleans, numbers, strings, bytes, lists, tuples, dicts, sets -- comes out as
it would from :func:`pickle.loads`, and everything the pickle would *call*
comes out as a :class:`Call` that names the function and its arguments.
Nothing is imported, called or hashed beyond plain scalars, and the work is
bounded by the number of opcodes.

>>> import pickle, datetime
>>> from hutch.cli.render import format_value
>>> print(format_value(read_pickle(pickle.dumps({'a': [1, None], 'b': (b'x',)}))))
{'a': [1, None], 'b': (b'x',)}
>>> print(format_value(read_pickle(pickle.dumps(datetime.date(2024, 1, 31)))))
datetime.date(b'\\x07\\xe8\\x01\\x1f')
"""

from __future__ import annotations

import io
import pickletools
from typing import Any, Optional

__all__ = ['read_pickle', 'Global', 'Call', 'Opaque', 'PickleDict',
           'PickleSet', 'MAX_OPCODES']

MAX_OPCODES = 2_000_000
"""Pickles with more opcodes than this are too large to read this way."""


class PickleDict(list[tuple[Any, Any]]):
    """A dict as its ``(key, value)`` pairs (keys are never hashed)."""


class PickleSet(list[Any]):
    """A set or frozenset as its items (never hashed)."""

    frozen = False


class Global:
    """A function or class a pickle names (``module.name``); never imported."""

    __slots__ = ('module', 'name')

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f'{self.module}.{self.name}'


class Call:
    """What unpickling would make by calling :attr:`func`: its arguments,
    and the state and items it would then be given."""

    __slots__ = ('func', 'args', 'kwargs', 'state', 'items', 'dictitems')

    def __init__(self, func: Any, args: Any = (),
                 kwargs: Optional[dict[str, Any]] = None) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs or {}
        self.state: Any = None
        self.items: list[Any] = []
        self.dictitems = PickleDict()


class Opaque:
    """Something a pickle refers to but does not hold (a persistent id, an
    out-of-band buffer, an extension code)."""

    __slots__ = ('what',)

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f'<{self.what}>'


class _Mark:
    pass


_MARK = _Mark()


def _bad(why: str) -> ValueError:
    return ValueError(f'not a pickle Python could load: {why}')


class _Machine:
    """The unpickler's stack and memo, with stand-ins for calls."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}

    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise _bad('stack underflow')
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _bad('no mark')
        at = self.marks.pop()
        items = self.stack[at + 1:]
        del self.stack[at:]
        return items

    def top(self) -> Any:
        if not self.stack:
            raise _bad('stack underflow')
        return self.stack[-1]

    def extend(self, items: list[Any]) -> None:
        target = self.top()
        if isinstance(target, list) and not isinstance(
                target, (PickleDict, PickleSet)):
            target.extend(items)
        elif isinstance(target, Call):
            target.items.extend(items)
        else:
            raise _bad(f'append to {type(target).__name__}')

    def set_items(self, items: list[Any]) -> None:
        if len(items) % 2:
            raise _bad('odd number of dict items')
        target = self.top()
        pairs = list(zip(items[::2], items[1::2], strict=True))
        if isinstance(target, PickleDict):
            target.extend(pairs)
        elif isinstance(target, Call):
            target.dictitems.extend(pairs)
        else:
            raise _bad(f'set items of {type(target).__name__}')

    def step(self, name: str, arg: Any) -> None:  # noqa: C901 - one opcode each
        push = self.stack.append
        if name in _PUSH_ARG:
            push(arg)
        elif name in _CONSTANTS:
            push(_CONSTANTS[name]())
        elif name == 'BYTEARRAY8':
            push(bytearray(arg))
        elif name == 'MARK':
            self.marks.append(len(self.stack))
            push(_MARK)
        elif name in ('TUPLE1', 'TUPLE2', 'TUPLE3'):
            n = int(name[-1])
            items = [self.pop() for _ in range(n)][::-1]
            push(tuple(items))
        elif name == 'TUPLE':
            push(tuple(self.pop_mark()))
        elif name == 'LIST':
            push(self.pop_mark())
        elif name == 'DICT':
            items = self.pop_mark()
            if len(items) % 2:
                raise _bad('odd number of dict items')
            push(PickleDict(zip(items[::2], items[1::2], strict=True)))
        elif name == 'FROZENSET':
            s = PickleSet(self.pop_mark())
            s.frozen = True
            push(s)
        elif name == 'APPEND':
            self.extend([self.pop()])
        elif name == 'APPENDS':
            self.extend(self.pop_mark())
        elif name == 'SETITEM':
            value, key = self.pop(), self.pop()
            self.set_items([key, value])
        elif name == 'SETITEMS':
            self.set_items(self.pop_mark())
        elif name == 'ADDITEMS':
            items = self.pop_mark()
            target = self.top()
            if not isinstance(target, PickleSet):
                raise _bad('add items to a non-set')
            target.extend(items)
        elif name == 'POP':
            if self.stack and self.stack[-1] is _MARK:
                self.pop_mark()
            else:
                self.pop()
        elif name == 'POP_MARK':
            self.pop_mark()
        elif name == 'DUP':
            push(self.top())
        elif name in ('GET', 'BINGET', 'LONG_BINGET'):
            if arg not in self.memo:
                raise _bad(f'memo key {arg} missing')
            push(self.memo[arg])
        elif name in ('PUT', 'BINPUT', 'LONG_BINPUT'):
            self.memo[arg] = self.top()
        elif name == 'MEMOIZE':
            self.memo[len(self.memo)] = self.top()
        elif name == 'GLOBAL':
            module, _, attr = str(arg).partition(' ')
            push(Global(module, attr))
        elif name == 'STACK_GLOBAL':
            attr, module = self.pop(), self.pop()
            if not isinstance(attr, str) or not isinstance(module, str):
                raise _bad('STACK_GLOBAL needs two str')
            push(Global(module, attr))
        elif name == 'REDUCE':
            args = self.pop()
            push(_plain_call(self.pop(), args))
        elif name == 'NEWOBJ':
            args = self.pop()
            push(Call(self.pop(), args))
        elif name == 'NEWOBJ_EX':
            kwargs, args = self.pop(), self.pop()
            call = Call(self.pop(), args)
            if isinstance(kwargs, PickleDict):
                call.kwargs = {str(k): v for k, v in kwargs}
            push(call)
        elif name == 'INST':
            module, _, attr = str(arg).partition(' ')
            push(Call(Global(module, attr), tuple(self.pop_mark())))
        elif name == 'OBJ':
            items = self.pop_mark()
            if not items:
                raise _bad('OBJ without a class')
            push(Call(items[0], tuple(items[1:])))
        elif name == 'BUILD':
            state = self.pop()
            target = self.top()
            if not isinstance(target, Call):
                raise _bad(f'BUILD on {type(target).__name__}')
            target.state = state
        elif name == 'PERSID':
            push(Opaque(f'persistent id {arg!r}'))
        elif name == 'BINPERSID':
            push(Opaque(f'persistent id {self.pop()!r}'))
        elif name in ('EXT1', 'EXT2', 'EXT4'):
            push(Opaque(f'extension {arg}'))
        elif name == 'NEXT_BUFFER':
            push(Opaque('out-of-band buffer'))
        elif name in ('PROTO', 'FRAME', 'READONLY_BUFFER', 'STOP'):
            pass
        else:  # pragma: no cover - every opcode of protocols 0-5 is above
            raise _bad(f'unknown opcode {name}')


def _plain_call(func: Any, args: Any) -> Any:
    """What calling ``func(*args)`` makes, when ``func`` is one of the few
    builtins older protocols call to make plain data (``set``,
    ``bytearray``, ``_codecs.encode`` for bytes ...), computed here without
    importing anything; else a :class:`Call`."""
    if isinstance(func, Global) and type(args) is tuple:
        name = (func.module.replace('__builtin__', 'builtins'), func.name)
        if name in (('builtins', 'set'), ('builtins', 'frozenset')) and \
                len(args) <= 1 and all(type(a) is list for a in args):
            items = PickleSet(args[0] if args else [])
            items.frozen = name[1] == 'frozenset'
            return items
        if name == ('builtins', 'bytearray') and len(args) <= 1 and \
                all(type(a) is bytes for a in args):
            return bytearray(*args)
        if name == ('builtins', 'bytes') and not args:
            return b''
        if name == ('_codecs', 'encode') and len(args) == 2 and \
                type(args[0]) is str and args[1] == 'latin1':
            return args[0].encode('latin1')
    return Call(func, args)


_PUSH_ARG = frozenset((
    'INT', 'BININT', 'BININT1', 'BININT2', 'LONG', 'LONG1', 'LONG4',
    'STRING', 'BINSTRING', 'SHORT_BINSTRING', 'BINBYTES', 'SHORT_BINBYTES',
    'BINBYTES8', 'UNICODE', 'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8',
    'FLOAT', 'BINFLOAT'))
_CONSTANTS: dict[str, Any] = {
    'NONE': lambda: None, 'NEWTRUE': lambda: True, 'NEWFALSE': lambda: False,
    'EMPTY_LIST': list, 'EMPTY_TUPLE': tuple, 'EMPTY_DICT': PickleDict,
    'EMPTY_SET': PickleSet}


def read_pickle(data: bytes, max_opcodes: int = MAX_OPCODES) -> Any:
    """The value a pickle describes, with stand-ins for what it would call.

    :raises ValueError: for bytes that are not a whole pickle, or one of
        more than ``max_opcodes`` opcodes
    """
    machine = _Machine()
    stream = io.BytesIO(data)
    count = 0
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            count += 1
            if count > max_opcodes:
                raise ValueError(f'a pickle of more than {max_opcodes:,} '
                                 'opcodes, too large to read without '
                                 'running it')
            machine.step(opcode.name, arg)
            if opcode.name == 'STOP':
                break
    except ValueError:
        raise
    except Exception as e:  # genops reports bad data with several types
        raise _bad(f'{type(e).__name__}: {e}') from e
    if len(machine.stack) != 1 or machine.marks:
        raise _bad('it does not end with one value')
    return machine.stack[0]
