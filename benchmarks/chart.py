"""The PNG chart of a run, read top to bottom.

1. **Targets** -- one bar per target, as long as the ratio its label shows,
   with the bound marked on the same scale; green met, red missed.
2. **One panel per area** -- a row per case (stashes at the target size,
   plus each area's own sweeps), a dot per peer at peer time / hutch time:
   right of the line hutch is faster.  Each peer keeps its colour in every
   panel, and each panel has a legend of its peers.
3. **Growth** -- how hutch's cost per unit changes from the smallest to the
   largest store (and any peer's that grows super-linearly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .growth import SUPER_LINEAR, Growth
from .harness import HUTCH, CaseResult
from .targets import TARGET_PARAMS, TargetResult

_MET, _MISSED, _HUTCH_COLOUR = 'tab:green', 'tab:red', 'tab:green'


def _areas(results: list[CaseResult]) -> dict[str, list[CaseResult]]:
    """The cases to show, by area: every case hutch and a peer ran, the
    growth sweeps only at the size the targets are stated at."""
    areas: dict[str, list[CaseResult]] = {}
    for r in results:
        if HUTCH not in r.peers or len(r.peers) < 2:
            continue
        if r.workload == 'growth' and not all(
                r.params.get(k) == v for k, v in TARGET_PARAMS.items()):
            continue
        areas.setdefault(r.area, []).append(r)
    return areas


def _case_label(r: CaseResult) -> str:
    args = ','.join(f'{k}={v:,}' if isinstance(v, int) else f'{k}={v}'
                    for k, v in r.params.items())
    return f'{r.workload}[{args}] {r.op}' if args else f'{r.workload} {r.op}'


def _targets_panel(ax: Any, measured: list[TargetResult]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ys = list(range(len(measured)))
    ratios = [t.ratio or 0.0 for t in measured]
    ax.barh(ys, ratios, color=[_MET if t.passed else _MISSED for t in measured])
    ax.scatter([t.target.bound for t in measured], ys, marker='|', s=400,
               color='black', zorder=3)
    for y, t in enumerate(measured):
        unit = ' ms' if not t.target.den else ''
        ax.text(t.ratio or 0.0, y, f'  {t.ratio:.2f}{unit}  ({t.target.formula})',
                va='center', fontsize=8)
    ax.set_yticks(ys, [t.target.text for t in measured], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale('log')
    low = min(ratios + [t.target.bound for t in measured])
    high = max(ratios + [t.target.bound for t in measured])
    ax.set_xlim(low / 2, high * 30)
    ax.set_xlabel('bar: the measured ratio (or time in ms), as in the formula; '
                  '|: the bound (log scale)')
    ax.set_title('Targets')
    ax.legend(handles=[Patch(color=_MET, label='met'),
                       Patch(color=_MISSED, label='missed'),
                       Line2D([], [], color='black', marker='|', ls='',
                              markersize=12, label='bound')],
              loc='lower right', fontsize=8)


def _area_panel(ax: Any, area: str, rows: list[CaseResult],
                palette: dict[str, Any]) -> None:
    ys = list(range(len(rows)))
    shown: set[str] = set()
    for y, r in enumerate(rows):
        for peer in sorted(p for p in r.peers if p != HUTCH):
            ratio = r.ratio(peer, HUTCH)
            if not ratio:
                continue
            ax.scatter(ratio, y, s=28, color=palette[peer], zorder=3,
                       label=None if peer in shown else peer)
            shown.add(peer)
    ax.axvline(1.0, color='black', lw=1)
    ax.axvspan(1.0, 1e6, color=_HUTCH_COLOUR, alpha=0.06, lw=0)
    ax.set_xscale('log')
    lows = [r.ratio(p, HUTCH) or 1.0 for r in rows for p in r.peers if p != HUTCH]
    ax.set_xlim(min(lows + [1.0]) / 1.5, max(lows + [1.0]) * 1.5)
    ax.set_yticks(ys, [_case_label(r) for r in rows], fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis='y', color='0.9', lw=0.5)
    ax.set_title(area, fontsize=10)
    ax.set_xlabel('peer time / hutch time (right of 1: hutch faster)',
                  fontsize=8)
    ax.legend(fontsize=7, loc='best', framealpha=0.8)


def _growth_panel(ax: Any, growths: list[Growth]) -> None:
    from matplotlib.patches import Patch

    ordered = sorted(growths, key=lambda g: (g.area, g.op, g.peer))
    ax.barh([f'{g.area}/{g.peer} {g.op} (per {g.unit})' for g in ordered],
            [g.factor for g in ordered],
            color=[_MISSED if g.factor > SUPER_LINEAR else
                   _HUTCH_COLOUR if g.peer == HUTCH else 'tab:gray'
                   for g in ordered])
    ax.axvline(1.0, color='black', lw=1)
    ax.axvline(SUPER_LINEAR, color=_MISSED, lw=1, ls='--')
    ax.set_xscale('log')
    ax.tick_params(axis='y', labelsize=7)
    ax.invert_yaxis()
    sizes = sorted({n for g in growths for n in g.costs})
    span = f'{sizes[0]:,} -> {sizes[-1]:,} items' if sizes else ''
    ax.set_xlabel(f'cost per unit at the largest / the smallest store ({span})')
    ax.set_title('Growth: hutch, and any store that grows super-linearly')
    ax.legend(handles=[Patch(color=_HUTCH_COLOUR, label='hutch, flat'),
                       Patch(color='tab:gray', label='peer'),
                       Patch(color=_MISSED, label='super-linear (> dashed line)')],
              fontsize=8, loc='lower right')


def render(path: Path, results: list[CaseResult], targets: list[TargetResult],
           growths: list[Growth], title: str) -> None:
    """Write the chart to ``path`` (needs matplotlib)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    measured = [t for t in targets if t.ratio]
    areas = _areas(results)
    peers = sorted({p for rows in areas.values() for r in rows for p in r.peers
                    if p != HUTCH})
    tab10, dark2 = plt.get_cmap('tab10'), plt.get_cmap('Dark2')
    colours = [tab10(i) for i in range(10)] + [dark2(i) for i in range(8)]
    palette = {p: colours[i % len(colours)] for i, p in enumerate(peers)}
    shown_growth = [g for g in growths
                    if g.peer == HUTCH or g.factor > SUPER_LINEAR]

    names = list(areas)
    pairs = [names[i:i + 2] for i in range(0, len(names), 2)]
    heights = [1.2 + 0.3 * len(measured)] if measured else []
    heights += [1.4 + 0.24 * max(len(areas[a]) for a in pair) for pair in pairs]
    if shown_growth:
        heights.append(1.4 + 0.2 * len(shown_growth))
    if not heights:
        return
    fig = plt.figure(figsize=(15, sum(heights) + 0.8), layout='constrained')
    fig.suptitle(title)
    grid = fig.add_gridspec(len(heights), 2, height_ratios=heights)
    row = 0
    if measured:
        _targets_panel(fig.add_subplot(grid[row, :]), measured)
        row += 1
    for pair in pairs:
        for col, area in enumerate(pair):
            where = grid[row, col] if len(pair) == 2 else grid[row, :]
            _area_panel(fig.add_subplot(where), area, areas[area], palette)
        row += 1
    if shown_growth:
        _growth_panel(fig.add_subplot(grid[row, :]), shown_growth)
    fig.savefig(path, dpi=100)
    plt.close(fig)

