"""How per-operation cost changes with the number of items in a store.

For every store (area and peer) and operation measured in a ``growth``
workload at several item counts, the cost per *unit* is compared between
the smallest and the largest count.  The unit is one call for per-item
operations (load, dump, exists) and one item for whole-store calls (keys,
len, iteration), so "flat" is the healthy answer for all of them: load,
dump and exists should not depend on the store's size, and keys should be
linear in it.  A factor above :data:`SUPER_LINEAR` is flagged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .harness import CaseResult

#: growth factors above this are flagged as super-linear
SUPER_LINEAR = 2.0
#: ... and above this as growing (worth a look, not alarming)
GROWS = 1.5


@dataclass
class Growth:
    area: str
    peer: str
    op: str
    per_item: bool
    #: item count -> seconds per unit
    costs: dict[int, float]

    @property
    def factor(self) -> float:
        lo, hi = min(self.costs), max(self.costs)
        return self.costs[hi] / self.costs[lo]

    @property
    def flag(self) -> str:
        if self.factor > SUPER_LINEAR:
            return 'SUPER-LINEAR'
        return 'grows' if self.factor > GROWS else 'flat'

    @property
    def unit(self) -> str:
        return 'item' if self.per_item else 'op'

    def to_json(self) -> dict[str, Any]:
        return {'area': self.area, 'peer': self.peer, 'op': self.op,
                'unit': self.unit, 'costs': {str(n): c for n, c in self.costs.items()},
                'factor': self.factor, 'flag': self.flag}


def growth(results: list[CaseResult]) -> list[Growth]:
    """The growth of every (area, peer, op) measured at two or more sizes.

    >>> from benchmarks.harness import CaseResult, PeerResult
    >>> def case(n: int, t: float) -> CaseResult:
    ...     r = CaseResult('a', 'growth', 'keys', {'n': n, 'value': 1}, 'call', True)
    ...     r.peers['p'] = PeerResult('p', t, [t], 1)
    ...     return r
    >>> [(g.factor, g.flag) for g in growth([case(1000, 1.0), case(100_000, 300.0)])]
    [(3.0, 'SUPER-LINEAR')]
    """
    table: dict[tuple[str, str, str, bool], dict[int, float]] = defaultdict(dict)
    for result in results:
        if result.workload != 'growth':
            continue
        n = int(result.params['n'])
        for peer, figures in result.peers.items():
            cost = figures.median / n if result.per_item else figures.median
            table[(result.area, peer, result.op, result.per_item)][n] = cost
    return [Growth(area, peer, op, per_item, costs)
            for (area, peer, op, per_item), costs in table.items() if len(costs) > 1]
