"""The benchmark suite's machinery, on toy workloads (no timing is asserted).

The suite itself (``make bench``) is not part of the test run; these tests
only keep its harness, targets, growth table and reports from breaking.
"""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks import disk, harness, latency, report
from benchmarks import growth as growth_module
from benchmarks.growth import growth
from benchmarks.harness import (
    HUTCH,
    Case,
    CaseResult,
    Config,
    Contender,
    Item,
    NotAvailable,
    Note,
    PeerResult,
    measure,
)
from benchmarks.memory import PlainDict
from benchmarks.run import run, write_reports
from benchmarks.stashops import OPS, Adapter, StashAdapter, stash_cases
from benchmarks.targets import TARGETS, Targets
from hutch import DictionaryStash


def _config(tmp_path: Path, **overrides: object) -> Config:
    return Config.for_mode(True, tmp_path, rounds=2, min_round=0.0, sample=20,
                           **overrides)


def _result(area: str, workload: str, op: str, params: dict[str, object],
            **medians: float) -> CaseResult:
    result = CaseResult(area, workload, op, params, 'op', op in ('keys', 'len'))
    for peer, median in medians.items():
        result.peers[peer] = PeerResult(peer, median, [median], 1)
    return result


def test_measure_runs_each_contender_for_warmup_and_every_round() -> None:
    calls = {'a': 0, 'b': 0}

    def work(peer: str) -> Contender:
        def run() -> int:
            calls[peer] += 1
            return 5
        return Contender(peer, run)

    result = measure(Case('t', 't', 'op', {}, [work('a'), work('b')]), rounds=4)
    assert calls == {'a': 5, 'b': 5}
    assert [len(result.peers[p].rounds) for p in 'ab'] == [4, 4]


def test_measure_rotates_which_contender_goes_first_each_round() -> None:
    order: list[str] = []

    def work(peer: str) -> Contender:
        def run() -> int:
            order.append(peer)
            return 1
        return Contender(peer, run)

    measure(Case('t', 't', 'op', {}, [work('a'), work('b')]), rounds=2)
    assert order[2:] == ['a', 'b', 'b', 'a']


def test_measure_prepares_before_every_round_untimed() -> None:
    prepared: list[int] = []
    contender = Contender('a', lambda: 1, prepare=lambda: prepared.append(1))
    measure(Case('t', 't', 'op', {}, [contender]), rounds=3, min_round=10.0)
    assert len(prepared) == 4


def test_measure_repeats_a_short_round_until_it_lasts_min_round() -> None:
    calls: list[int] = []
    contender = Contender('a', lambda: calls.append(1) or 1)
    measure(Case('t', 't', 'op', {}, [contender]), rounds=1, min_round=0.01)
    assert len(calls) > 2


def test_measure_runs_an_unrepeatable_case_once_a_round() -> None:
    calls: list[int] = []
    contender = Contender('a', lambda: calls.append(1) or 1)
    measure(Case('t', 't', 'op', {}, [contender], repeatable=False), rounds=3,
            min_round=10.0)
    assert len(calls) == 4


def test_a_writing_case_is_timed_over_about_twice_the_rounds() -> None:
    calls: list[int] = []
    contender = Contender('a', lambda: calls.append(1) or 1)
    result = measure(Case('t', 't', 'op', {}, [contender], flush=True,
                          repeatable=False), rounds=3)
    assert len(result.peers['a'].rounds) == 5
    assert len(calls) == 6  # the warm-up, then every round


def test_a_target_passes_or_misses_on_the_ratio_of_its_two_peers() -> None:
    lazy = next(t for t in TARGETS if t.name == 'persisted-hit-vs-lazy')
    ok = lazy.judge(_result('persisted', 'hit', 'read', {}, hutch=2.0,
                            **{'lazy-property': 1.0}))
    missed = lazy.judge(_result('persisted', 'hit', 'read', {}, hutch=3.0,
                                **{'lazy-property': 1.0}))
    assert (ok.ratio, ok.verdict) == (2.0, 'PASS')
    assert (missed.ratio, missed.verdict) == (3.0, 'MISS')


def test_an_unmeasured_target_is_not_applicable_rather_than_passed() -> None:
    verdicts = {t.target.name: t.verdict for t in Targets().all()}
    assert set(verdicts.values()) == {'n/a'}
    assert len(verdicts) == len(TARGETS)


def test_growth_flags_a_per_item_cost_that_triples() -> None:
    results = [_result('s', 'growth', 'load', {'n': 1000}, hutch=1.0),
               _result('s', 'growth', 'load', {'n': 100_000}, hutch=3.0)]
    [series] = growth(results)
    assert (series.factor, series.flag) == (3.0, 'SUPER-LINEAR')


def test_stash_cases_time_every_op_for_hutch_and_the_floor(tmp_path: Path) -> None:
    builders = {HUTCH: lambda p: StashAdapter(DictionaryStash()),
                'floor:dict': PlainDict}
    cfg = _config(tmp_path)
    items = list(stash_cases(cfg, 'memory', 'toy', builders, 50, 64))
    assert [c.op for c in items if isinstance(c, Case)] == list(OPS)
    results = [measure(c, 1) for c in items if isinstance(c, Case)]
    assert all(set(r.peers) == {HUTCH, 'floor:dict'} for r in results)


def test_stash_cases_fail_when_hutch_itself_is_missing(tmp_path: Path) -> None:
    def missing(path: Path) -> Adapter:
        raise NotAvailable('hutch.Nothing is not available')

    with pytest.raises(NotAvailable):
        list(stash_cases(_config(tmp_path), 'x', 'toy',
                         {HUTCH: missing, 'floor:dict': PlainDict}, 10, 8))


def test_runner_writes_json_and_markdown_with_every_target(tmp_path: Path) -> None:
    def toy(cfg: Config) -> Iterator[Item]:
        yield Note('toy', 'w', 'a note')
        yield from stash_cases(cfg, 'toy', 'growth',
                               {HUTCH: lambda p: StashAdapter(DictionaryStash()),
                                'floor:dict': PlainDict}, 30, 16, ops=('load',))

    cfg = _config(tmp_path / 'work')
    with open(tmp_path / 'log', 'w') as log:
        results, targets, notes = run(cfg, out=log, areas={'toy': toy})
    meta = {'started': 'now', 'seconds': 1.0, 'quick': True, 'machine': {
        'cpu': 'cpu', 'cores': 2, 'platform': 'p', 'python': '3', 'packages': {},
        'disk': 'ext4 on /dev/x, no journal'}}
    write_reports(tmp_path / 'docs', cfg, results, targets, notes, meta,
                  with_chart=False)
    data = json.loads((tmp_path / 'docs' / 'benchmarks.json').read_text())
    page = (tmp_path / 'docs' / 'benchmarks.md').read_text()
    assert [r['op'] for r in data['results']] == ['load']
    assert len(data['targets']) == len(TARGETS)
    assert 'toy/w: a note' in page and '## Targets' in page
    assert 'Stores on: ext4 on /dev/x, no journal.' in page


def _mounts(tmp_path: Path, *lines: str) -> Path:
    table = tmp_path / 'mounts'
    table.write_text(''.join(line + '\n' for line in lines))
    return table


def test_the_disk_is_the_mount_with_the_longest_matching_point(tmp_path: Path) -> None:
    table = _mounts(tmp_path, '/dev/a / ext4 rw 0 0', '/dev/b /data xfs rw 0 0',
                    '/dev/c /data/deep btrfs rw,discard 0 0',
                    '/dev/d /database ext4 rw 0 0')
    assert disk.describe('/data/x/y', table) == 'xfs on /dev/b'
    assert disk.describe('/data/deep', table) == 'btrfs on /dev/c, mounted with discard'
    assert disk.describe('/datab', table) == 'ext4 on /dev/a'


def test_an_ext4_without_a_journal_says_so(tmp_path: Path) -> None:
    table = _mounts(tmp_path, '/dev/vda / ext4 rw,relatime,discard 0 0',
                    '/dev/loop0 /mnt ext4 rw 0 0')
    for device, task in (('vda', '<none>'), ('loop0', '1234')):
        (tmp_path / device).mkdir()
        (tmp_path / device / 'journal_task').write_text(task + '\n')
    assert disk.describe('/srv', table, tmp_path) == \
        'ext4 on /dev/vda, no journal, mounted with discard'
    assert disk.describe('/mnt/x', table, tmp_path) == 'ext4 on /dev/loop0'


def test_an_unreadable_mount_table_gives_unknown(tmp_path: Path) -> None:
    assert disk.describe('/', tmp_path / 'absent') == 'unknown'


@pytest.mark.parametrize('module', [harness, growth_module, report, disk,
                                    latency])
def test_the_examples_in_the_benchmark_modules_run(module: ModuleType) -> None:
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


def test_a_case_of_large_copies_is_judged_by_its_least_round() -> None:
    times = iter([0.0, 5.0, 1.0, 3.0])  # warm-up, then three rounds

    def run() -> int:
        import time
        time.sleep(next(times) / 1000)
        return 1

    result = measure(Case('t', 't', 'op', {}, [Contender(HUTCH, run)],
                          least=True, repeatable=False), rounds=3)
    figure = result.peers[HUTCH]
    assert figure.median == min(figure.rounds) and result.statistic == 'least'


def test_a_target_without_a_second_peer_bounds_the_time_in_ms() -> None:
    mmap = next(t for t in TARGETS if t.name == 'large-mmap-load')
    fast = mmap.judge(_result('large', 'array', 'mmap-load', {'mb': 100},
                              hutch=0.0002))
    slow = mmap.judge(_result('large', 'array', 'mmap-load', {'mb': 100},
                              hutch=0.003))
    assert (round(fast.ratio or 0, 6), fast.verdict) == (0.2, 'PASS')
    assert slow.verdict == 'MISS' and mmap.formula == 'hutch <= 1 ms'


def test_the_large_area_times_hutch_against_numpy(tmp_path: Path) -> None:
    from benchmarks import large

    cfg = _config(tmp_path, large_mb=(1,), batch_rows=50)
    # measured as the runner does: each case before the next is made
    results = [measure(c, 1) for c in large.cases(cfg) if isinstance(c, Case)]
    assert [(r.workload, r.op) for r in results] == [
        ('array', 'dump'), ('array', 'load'), ('array', 'mmap-load'),
        ('batch', 'dump'), ('batch', 'load')]
    assert {HUTCH, 'hutch-sqlite', 'hutch-persisted', 'floor:numpy'} <= \
        set(results[1].peers)
