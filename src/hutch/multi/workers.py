"""How many workers, and how big a chunk: the sizing rules.

:func:`resolve_workers` and :func:`resolve_chunk_size` turn the user's
``workers`` and ``chunk_size`` into numbers; :func:`check_workers` and
:func:`check_chunk_size` refuse values they don't define.

>>> resolve_workers(3, cores=8), resolve_workers(0, cores=8)
(3, 8)
>>> resolve_workers(-2, cores=8), resolve_workers(0.5, cores=8)
(6, 4)
>>> resolve_chunk_size(0, items=10, workers=3), resolve_chunk_size(4, 10, 3)
(4, 4)
"""

from __future__ import annotations

import math
import os
from typing import Optional, Union

from ..util import check_int

__all__ = ['cpu_count', 'check_workers', 'check_chunk_size',
           'resolve_workers', 'resolve_chunk_size', 'Workers']

Workers = Union[int, float]


def cpu_count() -> int:
    """The cores this process may run on (its affinity, where known)."""
    count = getattr(os, 'process_cpu_count', None)
    if count is not None:
        return max(1, count() or 1)
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_workers(workers: Workers) -> None:
    """Refuse a ``workers`` value the sizing rules don't define.

    Valid: an ``int`` (positive: that many; ``0``: all cores; negative:
    all cores but that many) or a ``float`` in (0, 1] (that fraction of the
    cores).

    >>> check_workers(1.5)
    Traceback (most recent call last):
    ...
    ValueError: workers as a float must be a fraction in (0, 1], got 1.5
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, float)):
        raise TypeError(
            f'workers must be an int or a float, got {workers!r}')
    if isinstance(workers, float) and not 0.0 < workers <= 1.0:
        raise ValueError(
            f'workers as a float must be a fraction in (0, 1], got {workers}')


def check_chunk_size(chunk_size: int) -> None:
    """Refuse a ``chunk_size`` that is not an int >= 0.

    >>> check_chunk_size(-1)
    Traceback (most recent call last):
    ...
    ValueError: chunk_size (0: split evenly) must be >= 0, got -1
    """
    check_int(chunk_size, 'chunk_size (0: split evenly)', low=0)


def resolve_workers(workers: Workers, cores: Optional[int] = None) -> int:
    """The number of workers ``workers`` asks for on ``cores`` cores.

    A negative count leaves that many cores free but never goes below one
    worker, so the same setting runs on a small machine too.
    """
    check_workers(workers)
    cores = cpu_count() if cores is None else cores
    if isinstance(workers, float):
        return max(1, int(cores * workers))
    if workers == 0:
        return cores
    if workers < 0:
        return max(1, cores + workers)
    return workers


def resolve_chunk_size(chunk_size: int, items: int, workers: int) -> int:
    """Items per chunk: ``chunk_size``, or for ``0`` an even split."""
    check_chunk_size(chunk_size)
    if chunk_size == 0:
        return max(1, math.ceil(items / max(1, workers)))
    return chunk_size
