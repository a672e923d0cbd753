"""``vedette scan`` for fleets: target files, CIDR sweeps, resume, cluster (the CLI front end).

``commands/scan.py`` builds the scan's ``ScanPlan`` and hands over here when the plan asks for
a fleet scan (``wanted``). The flow:

1. open the store (SQLite or PostgreSQL), or the scan to resume;
2. spool the targets into it (``vedette.scale.spool``): deduplicated and permuted there;
3. probe the pending targets locally (``vedette.scale.runner``) or on a Dask cluster
   (``vedette.scale.cluster``), results stored in batches as they come;
4. mark the scan finished and print a summary; reports come from the store
   (``vedette report SCAN --format csv|jsonl|html``).

The plan is stored with the scan; ``--resume`` reads it back (nothing parses the command line
again) and takes from the new command line only where results go (``--quiet``, ``--fail-on``,
``--db``, ``--cluster``) and further exclusions.

Exit status: the plan's one rule (``ScanPlan.fail_threshold``), by the kind of input. A fleet
source (``--targets``, a CIDR, ``--resume``) exits 0 even when findings were found (cron jobs
and CI sweeps should not alarm on the state of other people's servers) unless ``--fail-on
SEVERITY`` is given; explicit targets, run here because of an incidental flag (``--quiet``,
``--rate``...), exit 1 on a finding at ``--fail-on`` or above (default high), as they do
without it. 2 for an operational error (bad input, store unusable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from vedette import analysis
from vedette.commands import _common as c
from vedette.errors import StoreError, UsageError
from vedette.plan import InputKind, ScanPlan, TargetSource
from vedette.scale.runner import Progress, RunStats, run_targets
from vedette.scale.spool import spool
from vedette.scale.targets import (
    DEFAULT_MAX_CIDR,
    Exclusions,
    TargetLine,
    exclusions_from_entries,
    parse_exclusions,
    parse_target_file,
)
from vedette.scan import RunSettings
from vedette.targets import quoted

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import FrameType

    from vedette.checks import CheckContext
    from vedette.store.db import Store

__all__ = ["add_fleet_arguments", "read_exclusions", "run_fleet", "wanted"]


def add_fleet_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fleet scans (results stored; see 'vedette report')")
    g.add_argument(
        "--targets",
        dest="targets_file",
        metavar="FILE|-",
        help="read targets from FILE ('-': standard input), one a line: TARGET [ADDRESS]",
    )
    g.add_argument(
        "--exclude",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="never contact these CIDRs, addresses or names (checked after resolution); repeatable",
    )
    g.add_argument("--rate", type=_rate, metavar="N", help="new connections per second, in all")
    g.add_argument(
        "--deep",
        type=_finding_ids,
        metavar="FINDING_ID,...",
        help="re-scan in full the endpoints whose quick result has one of these findings",
    )
    g.add_argument("--resume", type=_scan_id, metavar="SCAN_ID", help="finish a stopped scan")
    g.add_argument(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="run on a Dask cluster (needs --db postgresql+psycopg://...)",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    g.add_argument(
        "--max-cidr",
        type=_max_cidr,
        default=DEFAULT_MAX_CIDR,
        metavar="N",
        help=f"most addresses one CIDR may hold (default {DEFAULT_MAX_CIDR})",
    )
    g.add_argument(
        "--allow-reserved",
        action="store_true",
        help="let CIDR sweeps include reserved and bogon ranges (private, loopback...)",
    )


def _rate(text: str) -> float:
    return c.bounded(text, 1_000_000)


def _finding_ids(text: str) -> frozenset[str]:
    from vedette.checks import load_checks

    known = {check.id for check in load_checks()}
    ids = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(ids - known)
    if not ids or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown finding id(s): {', '.join(unknown) or repr(text)} (see 'vedette checks')"
        )
    return ids


def _scan_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or not 0 < int(text) < 1 << 63:
        raise argparse.ArgumentTypeError(f"not a scan id (1 to 2**63-1): {text!r}")
    return int(text)


def _max_cidr(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 1 << 32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 2**32: {text!r}")
    return int(text)


def wanted(plan: ScanPlan) -> bool:
    """True when the plan needs the fleet runner: a fleet source, or an option only it has
    (these do not change the plan's mode or exit-code rule)."""
    return bool(
        plan.kind is InputKind.FLEET
        or plan.cluster
        or plan.resolution.exclusions
        or plan.limits.rate
        or plan.deep
        or plan.output.quiet
    )


# --- target lines ----------------------------------------------------------------------------


def _open_targets(name: str | None, stack: contextlib.ExitStack) -> TextIO | None:
    """The ``--targets`` file (or standard input), opened before anything is stored: a file
    that cannot be read leaves no scan behind."""
    if not name:
        return None
    if name == "-":
        # Python sets sys.stdin to None when descriptor 0 is closed (`vedette ... <&-`).
        if sys.stdin is None or sys.stdin.closed:
            raise UsageError("--targets -: standard input is closed; give a file or pipe targets")
        return sys.stdin
    try:
        return stack.enter_context(open(name, encoding="utf-8", errors="strict"))
    except OSError as exc:
        raise UsageError(f"--targets {name}: {exc.strerror or exc}") from None


def _lines(source: TargetSource, handle: TextIO | None) -> Iterator[TargetLine]:
    for text in source.targets:
        yield TargetLine(text=text, where=f"target {quoted(text)}")
    if handle is None or source.file is None:
        return
    name = "<stdin>" if source.file == "-" else source.file
    try:
        yield from parse_target_file(handle, name)
    except OSError as exc:
        raise UsageError(f"--targets {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--targets {name}: not UTF-8 text") from None


_T = TypeVar("_T")


class _Interrupts:
    """Ctrl-C while the targets are spooled: ``KeyboardInterrupt`` only between targets.

    Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Raised inside
    SQLAlchemy or the database driver, in the middle of a transaction's rollback or of giving
    a connection back, it could leave that connection holding SQLite's write lock: removing
    the half-made scan then waited 5 s and failed ("database is locked"), and the empty scan
    stayed for ``report last`` to show. Within this block SIGINT raises only while
    ``guarded`` is producing the next target (reading and parsing the input, a blocking read
    of standard input included); anywhere else it is held until then, or until the block
    ends. Outside the main thread (no signals there) it does nothing."""

    def __init__(self) -> None:
        self._allowed = False
        self._pending = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        if self._pending and exc_type is None:
            raise KeyboardInterrupt

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._allowed:
            raise KeyboardInterrupt
        self._pending = True

    def check(self) -> None:
        """Raise the Ctrl-C held so far, if any."""
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt

    def guarded(self, items: Iterable[_T]) -> Iterator[_T]:
        """``items``, with Ctrl-C raising (at once) only while the next one is made."""
        iterator = iter(items)
        while True:
            self.check()
            self._allowed = True
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self._allowed = False
            yield item


def read_exclusions(paths: list[Path]) -> Exclusions:
    """The ``--exclude`` files, read and checked."""
    result = Exclusions()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--exclude {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--exclude {path}: not UTF-8 text") from None
        result = result.union(parse_exclusions(text.splitlines(), str(path)))
    return result


# --- progress --------------------------------------------------------------------------------


class _Bar(Progress):
    """A rich progress bar on standard error: targets, rate, ETA, errors, findings."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("scan"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} targets/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("errors {task.fields[errors]} findings {task.fields[findings]}"),
            console=Console(stderr=True, highlight=False),
            transient=False,
        )
        self._task: Any = None
        self._base = 0
        self._t0 = time.monotonic()

    def start(self, total: int, done: int) -> None:
        self._base = done
        self._t0 = time.monotonic()
        self._bar.start()
        self._task = self._bar.add_task(
            "scan", total=total, completed=done, rate=0.0, errors=0, findings=0
        )

    def retotal(self, total: int, done: int) -> None:
        self._base = done
        self._bar.update(self._task, total=total, completed=done)

    def update(self, stats: RunStats) -> None:
        elapsed = max(1e-6, time.monotonic() - self._t0)
        self._bar.update(
            self._task,
            completed=self._base + stats.targets,
            rate=stats.targets / elapsed,
            errors=stats.errors,
            findings=stats.findings,
        )

    def stop(self) -> None:
        self._bar.stop()


# --- the command -----------------------------------------------------------------------------


#: ``(client options stored with the scan, or None) -> (ClientOptions, the dict to store)``:
#: the plan's client-matrix options (``--clients``, ``--as-of``...) merged over the stored ones.
ClientsFor = Callable[[Mapping[str, Any] | None], tuple[Any, dict[str, Any]]]


def run_fleet(plan: ScanPlan, clients_for: ClientsFor | None = None) -> int:
    """A fleet scan. ``clients_for`` gives the client-matrix options: they are stored with the
    scan (so ``report`` and ``--resume`` use them) and judge the findings ``--fail-on`` counts."""
    source = plan.source
    if not plan.output.store:
        raise UsageError("fleet scans keep their results in the store; drop --no-store")
    if source.resume is not None and (source.targets or source.file):
        raise UsageError("--resume takes the targets of the stored scan; give no targets")
    if source.resume is None and not source.targets and not source.file:
        raise UsageError("no targets: give TARGET..., --targets FILE or --resume SCAN_ID")
    # A new scan's options, checked before the store is written (bad --clients, --as-of or
    # --inventory fail first); a resumed scan merges them over its stored ones.
    fresh = clients_for(None) if clients_for is not None and source.resume is None else None
    with contextlib.ExitStack() as stack:
        handle = _open_targets(source.file, stack)
        code = _run_fleet(plan, handle, clients_for, fresh)
    return code


def _db_url(plan: ScanPlan) -> str:
    from vedette.store.db import default_db_url

    return plan.output.db or default_db_url()


def _run_fleet(
    plan: ScanPlan,
    handle: TextIO | None,
    clients_for: ClientsFor | None,
    fresh: tuple[Any, dict[str, Any]] | None,
) -> int:
    from vedette.store.db import Store

    fail_on = plan.fail_threshold
    quiet = plan.output.quiet
    with Store.open(_db_url(plan), create=plan.source.resume is None) as store:
        clients: Any = None
        if plan.source.resume is not None:
            scan_id, settings, roots, stored_clients = _resume(store, plan)
            if clients_for is not None:
                clients = clients_for(stored_clients)[0]
        else:
            scan_id, settings, roots = _start(
                store, plan, handle, fresh[1] if fresh is not None else None
            )
            clients = fresh[0] if fresh is not None else None
        progress: Progress = Progress() if quiet else _Bar()
        try:
            state = store.fleet_scan(scan_id)
            ctx = analysis.context(datetime.now(UTC), roots, clients)
            progress.start(state.total, state.done)
            try:
                stats = _run(plan, store, scan_id, settings, roots, ctx, progress)
            finally:
                progress.stop()
        except KeyboardInterrupt:
            c.err(f"scan {scan_id} interrupted; finish it with: vedette scan --resume {scan_id}")
            return 130
        final = store.fleet_scan(scan_id)
        if final.done < final.total:
            c.err(
                f"scan {scan_id}: {final.total - final.done} target(s) left; "
                f"finish with: vedette scan --resume {scan_id}"
            )
            return 2
        store.finish_fleet_scan(scan_id, datetime.now(UTC))
        report_wanted = plan.output.format != "text" or plan.output.file is not None
        if report_wanted:
            from vedette.report.stored import write_format
            from vedette.trust.simulate import ClientOptions

            write_format(
                store,
                scan_id,
                plan.output.format,
                plan.output.file,
                clients if clients is not None else ClientOptions(),
                verbose=plan.output.verbose,
            )
    if not quiet:
        # A report written to standard output keeps it to itself: the summary goes to stderr.
        _summary(
            scan_id,
            final.total,
            stats,
            settings,
            sys.stderr if report_wanted and plan.output.file is None else sys.stdout,
        )
    if fail_on is not None and stats.worst is not None and stats.worst >= fail_on:
        return 1
    return 0


def _run(
    plan: ScanPlan,
    store: Store,
    scan_id: int,
    settings: RunSettings,
    roots: tuple[bytes, ...],
    ctx: CheckContext,
    progress: Progress,
) -> RunStats:
    if plan.cluster:
        from vedette.scale.cluster import run_on_cluster

        return run_on_cluster(
            plan.cluster, _db_url(plan), store, scan_id, settings, roots, progress=progress
        )
    # What exists now (modules, store, settings) lives to the end of the scan, while the
    # probes make and drop objects by the million: keep the collector's full passes off it.
    gc.freeze()
    try:
        return asyncio.run(
            run_targets(
                store,
                scan_id,
                settings,
                ctx,
                progress=progress,
                count_findings=not plan.output.quiet or plan.fail_threshold is not None,
            )
        )
    finally:
        gc.unfreeze()


def _start(
    store: Store,
    plan: ScanPlan,
    handle: TextIO | None,
    stored_clients: dict[str, Any] | None,
) -> tuple[int, RunSettings, tuple[bytes, ...]]:
    # The permutation's key, stored: the cluster runner keys targets it pins with it too.
    seed = os.urandom(16)
    plan = replace(plan, seed=seed, clients=stored_clients or {})
    settings = RunSettings.from_plan(plan, exclusions_from_entries(plan.resolution.exclusions))
    # What reports read (they know nothing of plans): the roots and the client options.
    options: dict[str, Any] = {
        "ca_roots_der_hex": [r.hex() for r in plan.extra_roots],
        "fleet": True,
    }
    if stored_clients:
        options["clients"] = stored_clients
    with _Interrupts() as interrupts:
        scan_id = store.begin_fleet_scan(
            plan.source.shown, options, datetime.now(UTC), plan.mode, plan
        )
        try:
            spool(
                store,
                scan_id,
                _lines(plan.source, handle),
                seed=seed,
                settings=settings,
                max_cidr=plan.source.max_cidr,
                allow_reserved=plan.source.allow_reserved,
                guard=interrupts.guarded,
            )
            interrupts.check()  # Ctrl-C during the last write: the scan goes too
        except (UsageError, StoreError, KeyboardInterrupt):
            # Nothing was probed: leave no half-made scan behind.
            store.delete_scan(scan_id)
            raise
    return scan_id, settings, plan.extra_roots


def _resume(
    store: Store, plan: ScanPlan
) -> tuple[int, RunSettings, tuple[bytes, ...], Mapping[str, Any] | None]:
    scan_id = plan.source.resume
    assert scan_id is not None
    state = store.fleet_scan(scan_id)
    if state.status == "spooling":
        raise UsageError(
            f"scan {scan_id} was stopped while its targets were read; nothing was "
            "probed: start it again"
        )
    stored = store.scan_plan(scan_id)
    try:
        exclusions = exclusions_from_entries(stored.resolution.exclusions)
    except UsageError as err:
        raise StoreError(f"scan {scan_id} plan: {err}") from None
    # Exclusions only grow: the stored list always holds, and one given now is added to it.
    exclusions = exclusions.union(exclusions_from_entries(plan.resolution.exclusions))
    settings = RunSettings.from_plan(stored, exclusions)
    return scan_id, settings, stored.extra_roots, stored.clients or None


def _summary(scan_id: int, total: int, stats: RunStats, settings: RunSettings, out: TextIO) -> None:
    out.write(
        f"scan {scan_id} ({settings.mode}): {total} targets; this run stored {stats.endpoints} "
        f"endpoints of {stats.targets} targets, {stats.errors} failed, "
        f"{stats.excluded} excluded"
    )
    if stats.deep:
        out.write(f", {stats.deep} re-scanned in full")
    out.write("\n")
    if total == 0:
        out.write(
            "  no target to probe: excluded, or in reserved ranges, which CIDR sweeps skip "
            "unless --allow-reserved\n"
        )
    for finding_id, n in sorted(stats.by_finding.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(f"  {n:>8}  {finding_id}\n")
    out.write(f"report: vedette report {scan_id} --format csv|jsonl|html\n")
