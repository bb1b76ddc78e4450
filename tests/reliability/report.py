"""Sum up the figures a run recorded: ``python -m tests.reliability.report FILE``.

Run the suites with ``HUTCH_RELIABILITY_REPORT=FILE`` first; this prints one
line per recorded test with its figures added up over the lines it wrote
(hypothesis examples record one line each).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any


def summarize(lines: list[str]) -> dict[str, dict[str, Any]]:
    """Figures per test, numbers summed (``scale`` and ``seconds`` kept)."""
    totals: dict[str, dict[str, Any]] = defaultdict(dict)
    for line in lines:
        entry = json.loads(line)
        figures = totals[entry.pop('test')]
        for name, value in entry.items():
            if name in ('scale', 'seconds', 'processes', 'threads'):
                figures[name] = value
            else:
                figures[name] = figures.get(name, 0) + value
    return dict(totals)


def main(path: str) -> None:
    with open(path, encoding='utf-8') as f:
        totals = summarize(f.readlines())
    for test in sorted(totals):
        figures = ', '.join(f'{k} {v}' for k, v in totals[test].items()
                            if k != 'scale')
        print(f'{test}: {figures}')


if __name__ == '__main__':
    main(sys.argv[1])
