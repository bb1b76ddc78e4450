"""The PNG chart of a run: targets, hutch against its peers, and growth."""

from __future__ import annotations

from pathlib import Path

from .growth import SUPER_LINEAR, Growth
from .harness import HUTCH, CaseResult
from .targets import TARGET_PARAMS, TargetResult


def render(path: Path, results: list[CaseResult], targets: list[TargetResult],
           growths: list[Growth], title: str) -> None:
    """Write the three-panel chart to ``path`` (needs matplotlib)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    measured = [t for t in targets if t.ratio]
    rows = [r for r in results if HUTCH in r.peers and len(r.peers) > 1 and (
        r.workload != 'growth' or all(r.params.get(k) == v
                                      for k, v in TARGET_PARAMS.items()))]
    n_ratios = sum(len(r.peers) - 1 for r in rows)
    heights = [max(2.0, 0.3 * len(measured)), max(2.0, 0.16 * n_ratios),
               max(2.0, 0.16 * len(growths))]
    fig, (ax_t, ax_r, ax_g) = plt.subplots(
        3, 1, figsize=(12, sum(heights) + 3), height_ratios=heights,
        layout='constrained')
    fig.suptitle(title)

    # 1. targets: how far each measured ratio is from its bound (>= 1 passes)
    names = [t.target.name for t in measured]
    scores = [t.target.bound / t.ratio if t.target.at_most else t.ratio / t.target.bound
              for t in measured if t.ratio]
    colors = ['tab:green' if t.passed else 'tab:red' for t in measured]
    ax_t.barh(names, scores, color=colors)
    ax_t.axvline(1.0, color='black', lw=1)
    ax_t.set_xscale('log')
    for i, t in enumerate(measured):
        ax_t.text(scores[i], i, f' {t.ratio:.2f} ({t.target.formula})', va='center',
                  fontsize=8)
    ax_t.set_xlabel('margin over the target (>= 1: met); label: measured ratio')
    ax_t.set_title('Targets')
    ax_t.invert_yaxis()

    if scores:
        ax_t.set_xlim(min(0.5, min(scores) / 1.5), max(2.0, max(scores)) * 4)

    # 2. peer time / hutch time at the target size, per area and op
    labels, bars = [], []
    for r in rows:
        for peer in sorted(p for p in r.peers if p != HUTCH):
            ratio = r.ratio(peer, HUTCH)
            if ratio:
                labels.append(f'{r.area}/{r.workload} {r.op} vs {peer}')
                bars.append(ratio)
    ax_r.barh(labels, bars,
              color=['tab:blue' if b >= 1 else 'tab:orange' for b in bars])
    ax_r.axvline(1.0, color='black', lw=1)
    ax_r.set_xscale('log')
    ax_r.tick_params(axis='y', labelsize=6)
    ax_r.margins(y=0.01)
    ax_r.invert_yaxis()
    ax_r.set_xlabel('peer time / hutch time (> 1: hutch faster); stashes at '
                    f'{TARGET_PARAMS["n"]:,} items')
    ax_r.set_title('hutch against each peer')

    # 3. growth factor of the per-unit cost from the smallest to the largest store
    ordered = sorted(growths, key=lambda g: (g.area, g.op, g.peer))
    ax_g.barh([f'{g.area}/{g.peer} {g.op} (per {g.unit})' for g in ordered],
              [g.factor for g in ordered],
              color=['tab:red' if g.factor > SUPER_LINEAR else
                     'tab:green' if g.peer == HUTCH else 'tab:gray' for g in ordered])
    ax_g.axvline(1.0, color='black', lw=1)
    ax_g.axvline(SUPER_LINEAR, color='tab:red', lw=1, ls='--')
    ax_g.set_xscale('log')
    ax_g.tick_params(axis='y', labelsize=6)
    ax_g.margins(y=0.01)
    ax_g.invert_yaxis()
    sizes = sorted({n for g in growths for n in g.costs})
    span = f'{sizes[0]:,} -> {sizes[-1]:,} items' if sizes else ''
    ax_g.set_xlabel(f'cost per unit at the largest / the smallest store ({span}); '
                    f'dashed: super-linear')
    ax_g.set_title('Growth (hutch in green)')

    fig.savefig(path, dpi=100)
    plt.close(fig)
