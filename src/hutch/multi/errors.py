"""What a parallel run reports when items fail or workers die.

A failing item never loses finished work: the run stores what succeeded and
then raises :class:`ProcessingError`, which names every failing key and
carries each worker's traceback text.  With ``store_failures=True`` an
:class:`ItemFailure` record is stored under the key instead, and
``redo_failed()`` computes those items again.

>>> f = ItemFailure('k1', 'ValueError: bad item', 'Traceback ...')
>>> err = ProcessingError([f])
>>> err.keys
['k1']
>>> str(err).splitlines()[0]
"1 item failed: 'k1' (ValueError: bad item)"
>>> import pickle
>>> pickle.loads(pickle.dumps(err)).failures == [f]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import PersistableError

__all__ = ['ItemFailure', 'ProcessingError', 'WorkerDiedError']

#: failing keys listed in an error message; the rest are in ``failures``
_SHOWN_KEYS = 10


@dataclass(frozen=True)
class ItemFailure:
    """Why one item could not be made: stored in its place on request.

    :param key: the key the item would have had
    :param error: the exception's type and message, e.g. ``'ValueError: x'``
    :param traceback: the traceback text from the worker that ran it
    """

    key: str
    error: str
    traceback: str


class ProcessingError(PersistableError):
    """Items failed in a parallel run; the ones that succeeded were stored.

    :param failures: one record per failing item, in the order found
    :param msg: a lead-in for the message; the failing keys follow it
    """

    def __init__(self, failures: Sequence[ItemFailure],
                 msg: str = '') -> None:
        self.failures = list(failures)
        self.lead = msg
        n = len(self.failures)
        shown = ', '.join(repr(f.key) for f in self.failures[:_SHOWN_KEYS])
        if n > _SHOWN_KEYS:
            shown += f', ... ({n - _SHOWN_KEYS} more)'
        head = f'{n} item{"" if n == 1 else "s"} failed: {shown}'
        if self.failures:
            head += f' ({self.failures[0].error})'
        text = f'{msg}: {head}' if msg else head
        if self.failures and self.failures[0].traceback:
            text += '\n\nworker traceback of the first failure:\n' + \
                self.failures[0].traceback.rstrip()
        super().__init__(text,
                         key=self.failures[0].key if n == 1 else None)

    @property
    def keys(self) -> list[str]:
        """The keys of the failing items."""
        return [f.key for f in self.failures]

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self) -> Any:
        return (type(self), (self.failures, self.lead))


class WorkerDiedError(ProcessingError):
    """A worker process died (killed, crashed) while running some chunks.

    The keys named are those of every chunk that had not finished; chunks
    that finished before the death are stored.
    """
