"""Turning results into a console table, JSON, a PNG chart and a markdown page.

Every ratio printed is *peer time / hutch time* in the same case: above 1,
hutch is that many times faster; below 1, slower.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, Optional, TextIO

from . import disk
from .growth import Growth
from .harness import HUTCH, CaseResult, Config, Note, write_rounds
from .targets import TargetResult

PACKAGES = ('hutch', 'zensols.util', 'diskcache', 'sqlitedict', 'joblib', 'matplotlib')


def fmt_time(seconds: float) -> str:
    """A duration in the unit that reads best.

    >>> fmt_time(2.5e-8), fmt_time(0.0123), fmt_time(4.0)
    ('25.0 ns', '12.3 ms', '4.00 s')
    """
    for unit, scale in (('s', 1.0), ('ms', 1e-3), ('µs', 1e-6), ('ns', 1e-9)):
        if seconds >= scale or unit == 'ns':
            value = seconds / scale
            return f'{value:.2f} {unit}' if value < 10 else f'{value:.1f} {unit}'
    raise AssertionError('unreachable')


def machine(folder: Path) -> dict[str, Any]:
    """What the figures were measured on, the stores living in ``folder``."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {'platform': platform.platform(), 'cpu': cpu, 'cores': os.cpu_count(),
            'python': sys.version.split()[0], 'packages': versions,
            'disk': disk.describe(folder)}


def _load(load: Any) -> str:
    return 'unknown' if not load else '/'.join(f'{x:.1f}' for x in load)


def _peers(result: CaseResult) -> list[str]:
    others = sorted(p for p in result.peers if p != HUTCH)
    return ([HUTCH] if HUTCH in result.peers else []) + others


def _ratio(result: CaseResult, peer: str) -> str:
    ratio = result.ratio(peer, HUTCH)
    return '' if ratio is None or peer == HUTCH else f'x{ratio:.2f}'


def print_case(result: CaseResult, out: TextIO, seconds: float) -> None:
    """One case: every peer's median per unit, its spread, and peer/hutch."""
    print(f'\n{result.key()}  ({result.statistic} per {result.unit}; xR = peer/hutch; '
          f'{seconds:.1f} s)', file=out)
    for peer in _peers(result):
        r = result.peers[peer]
        print(f'  {peer:<22} {fmt_time(r.median):>10}  ±{r.spread:5.0%}  '
              f'{_ratio(result, peer):>8}', file=out)


def print_summary(targets: list[TargetResult], growths: list[Growth],
                  notes: list[Note], out: TextIO) -> None:
    print('\n== targets ==', file=out)
    for t in targets:
        ratio = '   n/a' if t.ratio is None else f'{t.ratio:6.2f}'
        print(f'  {t.verdict:<4} {ratio}  {t.target.formula:<42} {t.target.text}',
              file=out)
        if t.context_text:
            print(f'{"":14}(same case: {t.context_text})', file=out)
    flagged = [g for g in growths if g.flag != 'flat']
    print(f'\n== growth: {len(growths)} series, {len(flagged)} not flat ==', file=out)
    for g in sorted(growths, key=lambda g: -g.factor):
        if g.flag != 'flat':
            print(f'  {g.flag:<12} x{g.factor:5.2f} per {g.unit}  '
                  f'{g.area}/{g.peer} {g.op}', file=out)
    if notes:
        print('\n== not measured ==', file=out)
        for note in notes:
            print(f'  {note.area}/{note.workload}: {note.text}', file=out)


def to_json(path: Path, cfg: Config, results: list[CaseResult],
            targets: list[TargetResult], growths: list[Growth], notes: list[Note],
            meta: dict[str, Any]) -> None:
    config = {k: (str(v) if isinstance(v, Path) else v)
              for k, v in asdict(cfg).items()}
    data = {
        'meta': meta, 'config': config,
        'results': [{'area': r.area, 'workload': r.workload, 'op': r.op,
                     'params': r.params, 'unit': r.unit, 'per_item': r.per_item,
                     'statistic': r.statistic,
                     'peers': {p: asdict(v) for p, v in r.peers.items()}}
                    for r in results],
        'targets': [t.to_json() for t in targets],
        'growth': [g.to_json() for g in growths],
        'notes': [asdict(n) for n in notes],
    }
    path.write_text(json.dumps(data, indent=1) + '\n')


def _markdown_case_table(results: Iterable[CaseResult]) -> list[str]:
    results = list(results)
    peers = sorted({p for r in results for p in r.peers if p != HUTCH})
    head = ['case', 'op', HUTCH] + [f'{p} (x)' for p in peers]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in results:
        args = ', '.join(f'{k}={v}' for k, v in r.params.items())
        row = [f'{r.workload} [{args}]', f'{r.op} (per {r.unit})',
               fmt_time(r.peers[HUTCH].median) if HUTCH in r.peers else '—']
        for p in peers:
            if p in r.peers:
                ratio = _ratio(r, p)
                cell = fmt_time(r.peers[p].median)
                row.append(f'{cell} ({ratio})' if ratio else cell)
            else:
                row.append('—')
        lines.append('| ' + ' | '.join(row) + ' |')
    return lines


METHOD = """\
Each workload is one operation on one data set, run for hutch and every peer
in the same process: one untimed warm-up round each, then {rounds} timed rounds
in which the contenders take turns, the order rotating every round. A round
shorter than {min_round} s is repeated within itself until it is not. A figure
is the median of a contender's rounds, per operation (per call for keys, len
and iteration, which touch the whole store). Garbage collection runs before
each round and is off during it, as in `timeit`. Per-item operations (load,
exists) touch the same random sample of up to {sample} existing keys in every
store; dump overwrites up to {write_sample} of them (the steady state of a
store being refreshed) and insert writes as many new keys. Values are random
bytes, pickled by every store, of ~{value} B unless the case says otherwise.
Stores live on the local disk (a temporary folder), not in memory; before
each round of a writing case the file system is flushed (`os.sync`), so that
no contender pays for another's unwritten data, and such a case takes
{write_rounds} rounds, as what a write waits for the disk varies most.
Ratios are peer time / hutch time from the same case: above 1, hutch is
faster."""


def to_markdown(path: Path, chart: str, cfg: Config, results: list[CaseResult],
                targets: list[TargetResult], growths: list[Growth],
                notes: list[Note], meta: dict[str, Any]) -> None:
    m = meta['machine']
    mode = 'quick (`make bench-quick`)' if cfg.quick else 'full (`make bench`)'
    out = [
        '# Benchmarks', '',
        '_Generated by `python -m benchmarks`; do not edit by hand._', '',
        f'Run: {mode}, {meta["started"]}, {meta["seconds"]:.0f} s; load average '
        f'{_load(meta.get("load_before"))} before, {_load(meta.get("load_after"))} '
        'after (1, 5, 15 min).', '',
        f'Machine: {m["cpu"]}, {m["cores"]} cores, {m["platform"]}, '
        f'Python {m["python"]}. Packages: '
        + ', '.join(f'{k} {v}' for k, v in m['packages'].items() if v) + '.'
        + (f' Stores on: {m["disk"]}.' if m.get('disk') else ''), '',
        '## Method', '',
        METHOD.format(rounds=cfg.rounds, write_rounds=write_rounds(cfg.rounds),
                      sample=cfg.sample, min_round=cfg.min_round,
                      write_sample=cfg.write_sample, value=cfg.value_bytes),
        '', '## Targets', '',
        'Each ratio is measured in one case; "reachable" gives two other '
        'contenders of the same case (a floor against the peer, or Pool.map '
        'against the serial loop) to show what this machine allows.', '',
        '| target | formula | ratio | verdict | reachable | area |',
        '|---|---|---|---|---|---|',
    ]
    for t in targets:
        ratio = 'n/a' if t.ratio is None else f'{t.ratio:.2f}'
        out.append(f'| {t.target.text} | `{t.target.formula}` | {ratio} | '
                   f'{t.verdict} | {t.context_text} | {t.target.topic} |')
    missed = [t for t in targets if t.profile]
    if missed:
        out += ['', 'Where the time goes in hutch for each missed target '
                '(cProfile over a few rounds, top functions by own time):', '']
        for t in missed:
            out += [f'### {t.target.name}', '',
                    '```text', t.profile.rstrip(), '```', '']
    out += ['', f'![benchmark chart]({chart})', '']
    for area in dict.fromkeys(r.area for r in results):
        out += [f'## {area}', '',
                _AREA_TEXT.get(area, ''), '',
                f'{_statistic(results, area)} per operation; (xR) = peer time / '
                'hutch time.', '']
        out += _markdown_case_table(r for r in results if r.area == area)
        out.append('')
    out += ['## Growth', '',
            'Cost per unit (per call; per item for keys, len, iteration) at the '
            'smallest and largest item count of each store, and the factor '
            'between them. Flat is healthy; above 2 is flagged super-linear.', '',
            '| store | op | unit | smallest | largest | factor | flag |',
            '|---|---|---|---|---|---|---|']
    for g in sorted(growths, key=lambda g: (g.area, g.peer, g.op)):
        lo, hi = min(g.costs), max(g.costs)
        out.append(f'| {g.area}/{g.peer} | {g.op} | {g.unit} | '
                   f'{fmt_time(g.costs[lo])} @ {lo:,} | {fmt_time(g.costs[hi])} '
                   f'@ {hi:,} | {g.factor:.2f} | {g.flag} |')
    if notes:
        out += ['', '## Not measured', '']
        out += [f'- {n.area}/{n.workload}: {n.text}' for n in notes]
    path.write_text('\n'.join(out) + '\n')


def _statistic(results: list[CaseResult], area: str) -> str:
    """How the figures of ``area`` were taken ('Median', 'Least')."""
    kinds = {r.statistic for r in results if r.area == area}
    return 'Least' if kinds == {'least'} else 'Median'


_AREA_TEXT = {
    'persisted': 'Method-level caching: `@property @persisted` hits, new instances '
                 'reading their file, and misses that compute and write.',
    'memoize': '`@memoize` hits and misses of one function of an `int` on '
               'SqliteStash (bounded and not), against diskcache and joblib. '
               'Floors: for a miss, the plain call plus a `SqliteStash.dump`; '
               'for a hit, the key text, one `sqlite3` select and one unpickling '
               'by hand (what any memoizer that queries SQLite on each hit pays). '
               'hutch answers a repeated hit from the row its thread kept, with '
               'no query, while nobody has committed to the database since: a '
               'query in WAL mode takes and drops a file lock (two system calls), '
               'and the kept row is checked with one read of the WAL index '
               'header instead. `hutch:no-read-cache` queries on every hit.',
    'directory': (
        'One file per key. Floor: hand-written '
        '`open`/`pickle`/`os.replace`. A dump that rewrites a key costs '
        "hutch about what it costs the floor, and the time is the kernel's,"
        " not Python's: per dump hutch makes 5 system calls (getpid, open, "
        "write, close, rename) to zensols.persist's 8 (two stat, mkdir, "
        'open, ioctl, lseek, write, close) and spends about 10 µs of CPU '
        'outside the kernel to its 27-41 µs (measured on tmpfs). Both pay '
        'for writing the new data out at once (ext4 does so for a file '
        'replaced by a rename and for one truncated and rewritten) and for '
        'freeing the old block, which with the `discard` mount option waits'
        ' for the disk (unlinking a 300 B file took 0.9-2.3 ms on this '
        'machine, an empty one 12-16 µs). What the atomic write adds is a '
        'new inode per dump, and the old one freed: it writes a temporary '
        'file and renames it over the old one, where zensols.persist '
        'truncates the old file and writes into it (no new inode, but a '
        'writer killed midway leaves the file torn). On ext4 without a '
        'journal a new inode skips every inode of its group freed in the '
        'last seconds to minutes, one buffer-cache lookup each: after a few'
        ' thousand files were deleted, creating one took 0.6-1.7 ms, nearly'
        " all of it in the kernel's `recently_deleted` (`perf`), against "
        '16-32 µs with none to skip. How much of that a dump meets depends '
        "on what was deleted just before (by hutch's own rewrites, the "
        'clean-up of earlier cases, other users of the disk), which is why '
        'the dump ratios swing from run to run (0.55x to 1.13x at n=10,000 '
        'on this machine). "Stores on" above names the file system of this '
        'run.'
    ),
    'sqlite': 'One SQLite file. Floor: a hand-written upsert/select loop; '
              'every store commits each write. Each round reads the same keys '
              'with no commit between reads, so hutch answers the reads of '
              'every round after the first from the rows it kept; '
              '`hutch:no-read-cache` (`read_cache=0`) queries on every read, '
              'as the peers do.',
    'shelve': '`dbm`-backed shelves (only `dbm.dumb` on this Python).',
    'memory': 'In-memory stashes and caches. Floor: a plain dict.',
    'multiprocess': 'Building items in parallel; one operation is the whole build.',
    'large': (
        'One large value (a numpy array, a training batch) dumped or loaded'
        " whole. Floor: `np.save`/`np.load`. Least of the rounds. hutch's "
        "dump rounds of 100 MB spread wider than `np.save`'s: an atomic "
        'write fills new page-cache pages while the file it replaces still '
        'holds its own, where `np.save` truncates the old file first and '
        'its write can reuse them. On this machine the `write` call itself '
        'then took 300-860 ms in some rounds against 18-35 ms for the same '
        "write elsewhere (strace), and dropping the old file's cached pages"
        " before the write brought hutch's median to `np.save`'s (60-72 ms "
        'against 107-190 ms); hutch does not do that, as it makes the '
        'kernel write back an old file that is not on disk yet (a second '
        'dump right after the first took 72 ms instead of 39 ms).'
    ),
    'remote': 'A DirectoryStash on `s3://`, served by a local moto S3 server '
              'in a process of its own. Floor: raw s3fs `cat_file`/`pipe_file` '
              'plus pickle. A local server shows what hutch adds on top of '
              's3fs, not network latency. The batch case runs twice: straight '
              'to the server (`rtt_ms=0`, where each request costs only the '
              'CPU of client and server, so concurrency has little to '
              'overlap), and through a proxy that holds every chunk of bytes '
              '10 ms each way, 20 ms a round trip (`rtt_ms=20`), the wait '
              'object storage adds and batches hide; a GET through s3fs takes '
              'two round trips there (about 65 ms against 22 ms straight to '
              'the server), and the per-key loop reads a tenth of the keys.',
}
