"""What ``@persisted`` can decorate: a plain method that takes ``self`` alone.

A persisted method keeps one value per instance, so :func:`check_method`
refuses, when the class is defined, what could not be cached correctly.

>>> def area(self):
...     return 1
>>> check_method(area, '_area')
True
"""

from __future__ import annotations

import functools
import inspect

__all__ = ['check_method']

_SELF_KINDS = (inspect.Parameter.POSITIONAL_ONLY,
               inspect.Parameter.POSITIONAL_OR_KEYWORD)
_NOT_METHODS = (property, classmethod, staticmethod, functools.cached_property)


def check_method(fn: object, attr_name: str) -> bool:
    """Refuse what ``@persisted`` cannot cache correctly, with a
    ``TypeError`` saying what to do instead.

    One value is kept per instance, so the method must take ``self`` alone:
    were ``v(self, n)`` accepted, ``v(3)`` and ``v(4)`` would both give the
    value of the first call.  Above ``@property`` the decorator would wrap
    the property object instead of its getter.

    :return: whether the signature is known to be ``(self)``; ``False``
        for a callable that does not tell its signature (a builtin)
    """
    where = f'@persisted({attr_name!r})'
    if isinstance(fn, property):
        raise TypeError(
            f'{where} must go below @property, right above the def; above '
            f'it, it would wrap the property object instead of its getter')
    if isinstance(fn, _NOT_METHODS):
        raise TypeError(f'{where} applies to a plain method of self, '
                        f'not a {type(fn).__name__}; put it right above '
                        'the def')
    if not callable(fn):
        raise TypeError(f'{where} applies to a method, got '
                        f'{type(fn).__name__}: {fn!r}')
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = tuple(signature.parameters.values())
    if len(params) != 1 or params[0].kind not in _SELF_KINDS or \
            params[0].default is not inspect.Parameter.empty:
        name = getattr(fn, '__qualname__', type(fn).__name__)
        raise TypeError(
            f'{where} keeps one value per instance, so the method must take '
            f'only self; got {name}{signature} (to cache by argument, use '
            'a stash keyed by the argument)')
    return True
