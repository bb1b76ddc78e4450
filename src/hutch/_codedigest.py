"""A digest of a function's code that changes with its body, not its layout.

A memoized result is only valid for the code that computed it, so the key
of a result includes :func:`code_digest` of the function.  The digest is
taken from the function's syntax tree when its source can be read: moving
the function to other lines, editing comments or its docstring, reformatting
it, or changing its decorators leave the digest alone; any change to what
the body says (a constant, a name, an operator) changes it.  When the source
can't be read (a function typed at the interactive prompt, or made by
``exec``), the digest is taken from the compiled code instead, which also
ignores line numbers and comments but changes between Python versions.

What it cannot see: the code of the functions the body calls, the values of
the globals it reads, and the libraries it uses.  Pin the version by hand
(``memoize(..., version=...)``) when those matter.

>>> def f(x):
...     return x + 1
>>> def g(x):  # the same body, elsewhere, with a comment
...     return x + 1
>>> code_digest(f) == code_digest(g)
True
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

__all__ = ['code_digest']

_SIZE = 8  # bytes: 16 hex digits in every key


def code_digest(fn: Callable[..., Any]) -> str:
    """16 hex digits that stand for the body of ``fn``."""
    fn = inspect.unwrap(fn)
    text = _tree_text(fn)
    if text is None:
        code = getattr(fn, '__code__', None)
        if code is None:
            raise TypeError(f'cannot read the code of {fn!r}; pass version=')
        text = _code_text(code)
    return hashlib.blake2b(text.encode('utf-8', 'surrogatepass'),
                           digest_size=_SIZE).hexdigest()


def _tree_text(fn: Callable[..., Any]) -> str | None:
    """The syntax tree of ``fn``'s definition, without positions, decorators
    and docstring; ``None`` when its source can't be read and parsed."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    node = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None  # a lambda, or a definition on a line with others
    node.decorator_list = []
    node.name = ''  # the key names the function already
    body = node.body
    if (len(body) > 1 and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        node.body = body[1:]
    return ast.dump(node, include_attributes=False)


def _code_text(code: types.CodeType) -> str:
    """The compiled code's instructions, names and constants (nested code
    included), without line numbers or the file name."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c)
              for c in code.co_consts]
    return repr((code.co_code, code.co_names, code.co_varnames,
                 code.co_freevars, code.co_argcount,
                 code.co_kwonlyargcount, consts))
