"""The runner: ``python -m benchmarks [--quick] [--only AREA ...]``.

Runs every area's cases, prints each as it is measured, judges the targets,
and writes the JSON results, the PNG chart and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, TextIO

if __package__ in (None, ''):  # run as a script: benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = 'benchmarks'

from benchmarks import chart, directory, large, memory, multiprocess, persisted, report
from benchmarks import memoize as memoize_area
from benchmarks import remote as remote_area
from benchmarks import shelve as shelve_area
from benchmarks import sqlite as sqlite_area
from benchmarks.growth import growth
from benchmarks.harness import HUTCH, Area, Case, CaseResult, Config, Note, measure
from benchmarks.targets import TargetResult, Targets

AREAS: dict[str, Area] = {
    'persisted': persisted.cases,
    'memoize': memoize_area.cases,
    'memory': memory.cases,
    'directory': directory.cases,
    'sqlite': sqlite_area.cases,
    'shelve': shelve_area.cases,
    'multiprocess': multiprocess.cases,
    'large': large.cases,
    'remote': remote_area.cases,
}

ROOT = Path(__file__).resolve().parent.parent


def profile_hutch(case: Case, top: int = 12, min_seconds: float = 0.3) -> str:
    """Where hutch's contender spends its time (cProfile over a few rounds).

    Rounds repeat until they add up to ``min_seconds``; each line gives a
    function's share of the total own time, its cumulative share, its calls
    per round and its own time per call.
    """
    contender = next(c for c in case.contenders if c.peer == HUTCH)
    profiler = cProfile.Profile()
    rounds, spent = 0, 0.0
    while spent < min_seconds and rounds < 1000:
        if contender.prepare is not None:
            contender.prepare()
        start = time.perf_counter()
        profiler.runcall(contender.run)
        spent += time.perf_counter() - start
        rounds += 1
    stats = pstats.Stats(profiler).strip_dirs()
    note = [case.profile_note] if case.profile_note else []
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in table.values()) or 1.0
    ordered = sorted(table.items(), key=lambda item: -item[1][2])[:top]
    head = ('own %', 'cum %', 'calls/round', 'own/call')
    lines = note + ['{:>6} {:>6} {:>11} {:>10}  function'.format(*head)]
    for (file, line, name), (_cc, calls, own, cum, _callers) in ordered:
        where = f'{file}:{line}({name})' if line else name
        lines.append(f'{own / total:6.1%} {cum / total:6.1%} {calls / rounds:11.0f} '
                     f'{report.fmt_time(own / calls):>10}  {where}')
    return '\n'.join(lines)


Run = tuple[list[CaseResult], list[TargetResult], list[Note]]


def run(cfg: Config, out: TextIO = sys.stdout, profile: bool = True,
        areas: Optional[dict[str, Area]] = None) -> Run:
    """Measure every selected area; judge targets (profiling misses)."""
    results: list[CaseResult] = []
    notes: list[Note] = []
    targets = Targets()
    for name, area in (AREAS if areas is None else areas).items():
        if cfg.only and name not in cfg.only:
            continue
        print(f'\n#### {name}', file=out, flush=True)
        start = time.perf_counter()
        for item in area(cfg):
            if isinstance(item, Note):
                if item not in notes:
                    notes.append(item)
                    print(f'  [not measured] {item.workload}: {item.text}', file=out)
                continue
            case_start = time.perf_counter()
            result = measure(item, cfg.rounds, cfg.warmup, cfg.min_round)
            results.append(result)
            report.print_case(result, out, time.perf_counter() - case_start)
            for verdict in targets.judge(result):
                print(f'  -> target {verdict.target.name}: {verdict.verdict}'
                      + ('' if verdict.ratio is None else f' ({verdict.ratio:.2f})'),
                      file=out)
                if profile and verdict.passed is False:
                    verdict.profile = profile_hutch(item)
                    print('     where hutch spends its time (cProfile):', file=out)
                    for line in verdict.profile.splitlines():
                        print(f'     {line}', file=out)
            out.flush()
        print(f'#### {name}: {time.perf_counter() - start:.0f} s', file=out)
    return results, targets.all(), notes


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks', description=__doc__)
    parser.add_argument('--quick', action='store_true',
                        help='reduced sizes and rounds (under two minutes)')
    parser.add_argument('--only', nargs='+', choices=sorted(AREAS), default=(),
                        help='run only these areas')
    parser.add_argument('--rounds', type=int, help='timed rounds per case')
    parser.add_argument('--no-profile', action='store_true',
                        help="don't profile hutch where a target is missed")
    parser.add_argument('--docs', type=Path, default=ROOT / 'docs',
                        help='where benchmarks.md, .json and .png go')
    parser.add_argument('--workdir', type=Path,
                        help='scratch folder for the stores (default: a temp folder)')
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix='hutch-bench-'))
    overrides: dict[str, object] = {'only': tuple(args.only)}
    if args.rounds:
        overrides['rounds'] = args.rounds
    cfg = Config.for_mode(args.quick, workdir, **overrides)
    started = time.strftime('%Y-%m-%d %H:%M:%S %Z')
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    try:
        results, targets, notes = run(cfg, profile=not args.no_profile)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    meta = {'started': started, 'seconds': time.perf_counter() - t0,
            'load_before': load_before, 'load_after': os.getloadavg(),
            'quick': cfg.quick, 'machine': report.machine(workdir)}
    write_reports(args.docs, cfg, results, targets, notes, meta)
    print(f'\nwrote {args.docs}/benchmarks.{{md,json,png}} in {meta["seconds"]:.0f} s')
    return 0


def write_reports(docs: Path, cfg: Config, results: list[CaseResult],
                  targets: list[TargetResult], notes: list[Note],
                  meta: dict[str, Any], with_chart: bool = True) -> None:
    """Print the summary; write benchmarks.json, .png and .md into ``docs``."""
    growths = growth(results)
    report.print_summary(targets, growths, notes, sys.stdout)
    docs.mkdir(parents=True, exist_ok=True)
    report.to_json(docs / 'benchmarks.json', cfg, results, targets, growths,
                   notes, meta)
    chart_name = 'benchmarks.png'
    if with_chart:
        try:
            chart.render(docs / chart_name, results, targets, growths,
                         f'hutch benchmarks ({"quick" if cfg.quick else "full"} run, '
                         f'{meta["started"]})')
        except ImportError as e:
            print(f'no chart: {e} (install the bench extra)', file=sys.stderr)
    report.to_markdown(docs / 'benchmarks.md', chart_name, cfg, results, targets,
                       growths, notes, meta)


if __name__ == '__main__':
    sys.exit(main())
