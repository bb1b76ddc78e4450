"""Which process this is: one rule for handles that must not cross a fork.

Open archives, database connections and locked files belong to the process
that opened them.  A child made by ``fork()`` inherits them, but must not
use them (it would share the parent's file offsets and locks) or close them
(that could drop the parent's locks): it opens its own.  A stash that holds
such a handle notes :data:`pid` when it opens it and compares with
:data:`pid` before use.

:data:`pid` is kept up to date by a fork hook, so the comparison costs an
attribute read, not the ``getpid()`` system call on every load and dump.

>>> import os
>>> from hutch import _process
>>> _process.pid == os.getpid()
True
"""

from __future__ import annotations

import os

__all__ = ['pid']

pid = os.getpid()
"""This process's id."""


def _after_fork_in_child() -> None:
    global pid
    pid = os.getpid()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)
