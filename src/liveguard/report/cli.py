"""`liveguard report PATH...`: summarise session logs per time window, optionally write the HTML
report and an upstream bug report.

Files are summarised one at a time (in worker processes when there are many), so memory stays flat
over 10,000 sessions; only the small per-session summaries are kept. Timelines and the bug report
re-read the few files they need afterwards. Progress goes to stderr; the summary to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from liveguard.report.reader import ReadStats, SessionEvents, iter_log_files, read_log
from liveguard.report.summary import Aggregate, SessionSummary, parse_window, summarize

PARALLEL_MIN_FILES = 64


def summarize_file(path: str, derive: str = "auto") -> tuple[list[SessionSummary], ReadStats]:
    """Summaries of every session in one log file (a worker-process entry point)."""
    stats = ReadStats()
    out = []
    for se in read_log(path, stats):
        out.append(
            summarize(
                se.session,
                se.events,
                path=se.path,
                start_wall=se.start_wall,
                bad_lines=se.bad_lines,
                derive=derive,
            )
        )
    return out, stats


def _summarize_chunk(paths: list[str], derive: str) -> tuple[list[SessionSummary], ReadStats]:
    stats = ReadStats()
    out: list[SessionSummary] = []
    for p in paths:
        sums, st = summarize_file(p, derive)
        out.extend(sums)
        stats.merge(st)
    return out, stats


@dataclass
class ReportResult:
    summaries: list[SessionSummary] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    aggregate: Aggregate = field(default_factory=Aggregate)
    seconds: float = 0.0


class Progress:
    """At most one line a second on stderr: files done, total, rate."""

    def __init__(self, total: int, stream: TextIO | None, every_s: float = 1.0) -> None:
        self.total, self.stream, self.every_s = total, stream, every_s
        self.start = self.last = time.monotonic()
        self.done = 0

    def step(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.stream is not None and now - self.last >= self.every_s:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            print(
                f"report: {self.done}/{self.total} files ({rate:.0f} files/s)",
                file=self.stream,
                flush=True,
            )


def build_report(
    paths: Iterable[str | Path],
    *,
    window_s: float | None = 3600.0,
    jobs: int = 1,
    derive: str = "auto",
    progress: TextIO | None = None,
) -> ReportResult:
    """Read and summarise every session under `paths`."""
    started = time.monotonic()
    files = [str(p) for p in iter_log_files(paths)]
    result = ReportResult(aggregate=Aggregate(window_s))
    prog = Progress(len(files), progress)

    def take(sums: list[SessionSummary], st: ReadStats, n: int) -> None:
        result.summaries.extend(sums)
        result.stats.merge(st)
        for s in sums:
            result.aggregate.add(s)
        prog.step(n)

    if jobs > 1 and len(files) >= PARALLEL_MIN_FILES:
        size = max(16, min(256, len(files) // (jobs * 8) or 1))
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for chunk, (sums, st) in zip(
                chunks, pool.map(_summarize_chunk, chunks, [derive] * len(chunks)), strict=True
            ):
                take(sums, st, len(chunk))
    else:
        for path in files:
            sums, st = summarize_file(path, derive)
            take(sums, st, 1)
    result.summaries.sort(key=lambda s: (s.start_wall or 0.0, s.session))
    result.seconds = time.monotonic() - started
    if progress is not None and len(files) >= 100:
        rate = len(files) / max(result.seconds, 1e-9)
        print(
            f"report: {len(files)} files, {len(result.summaries)} sessions in "
            f"{result.seconds:.1f} s ({rate:.0f} files/s)",
            file=progress,
            flush=True,
        )
    return result


def load_session(summary: SessionSummary) -> SessionEvents | None:
    for se in read_log(summary.path):
        if se.session == summary.session:
            return se
    return None


def pick_bug_session(
    summaries: Sequence[SessionSummary], session_id: str | None
) -> SessionSummary | None:
    """The session named, else the worst one (None when every session was healthy)."""
    if session_id is not None:
        return next((s for s in summaries if s.session == session_id), None)
    worst = max(summaries, key=lambda s: s.severity, default=None)
    if worst is None or worst.outcome == "healthy":
        return None
    return worst


def bug_report_for(result: ReportResult, summary: SessionSummary) -> str:
    from liveguard.report.bugreport import render_bug_report

    se = load_session(summary)
    window = result.aggregate.window_of(summary)
    frequency = window.paragraph() if window is not None else None
    return render_bug_report(se.events if se else [], summary, frequency=frequency)


def write_html(
    result: ReportResult,
    out: Path,
    *,
    bug: tuple[SessionSummary, str] | None,
    max_timelines: int,
    focus: str | None = None,
) -> None:
    from liveguard.report.html import render_report
    from liveguard.report.summary import derive_verdicts
    from liveguard.report.timeline import render_timeline

    ranked = sorted(result.summaries, key=lambda s: s.severity, reverse=True)
    if focus is not None:
        ranked.sort(key=lambda s: s.session != focus)  # stable: the chosen one first
    chosen = ranked[:max_timelines]
    timelines = []
    by_path: dict[str, list[SessionSummary]] = {}
    for s in chosen:
        by_path.setdefault(s.path, []).append(s)
    svgs: dict[int, str] = {}
    for path, sums in by_path.items():
        wanted = {s.session: s for s in sums}
        for se in read_log(path):
            s = wanted.get(se.session)
            if s is not None:
                events = se.events
                if s.derived:  # show the verdicts the report counted for this session
                    events = derive_verdicts(events, None) or events
                svgs[id(s)] = render_timeline(events)
    timelines = [(s, svgs[id(s)]) for s in chosen if id(s) in svgs]
    table = sorted(result.summaries, key=lambda s: s.severity, reverse=True)
    html = render_report(
        frequency=result.aggregate.text() or "no sessions",
        read_stats=result.stats.describe(),
        summaries=table,
        timelines=timelines,
        bug_report=bug,
        omitted_timelines=max(0, len(result.summaries) - len(timelines)),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="session log files or folders (recursive)")
    parser.add_argument("--html", type=Path, help="write the self-contained HTML report here")
    parser.add_argument(
        "--window", default="1h", help="time window per paragraph (30m, 1h, 6h, 1d)"
    )
    parser.add_argument("--session", help="the session for the bug report (default: the worst)")
    parser.add_argument("--bug-report", type=Path, help="write the upstream bug report (markdown)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)"
    )
    parser.add_argument(
        "--max-timelines", type=int, default=200, help="timelines in the HTML (worst first)"
    )
    parser.add_argument(
        "--derive",
        choices=("auto", "never"),
        default="auto",
        help="replay the guard over logs that hold no guard records (default auto)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace, out: Callable[[str], Any] = print) -> int:
    try:
        window_s = parse_window(args.window)
        result = build_report(
            args.paths,
            window_s=window_s,
            jobs=max(1, args.jobs),
            derive=args.derive,
            progress=None if args.quiet else sys.stderr,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"liveguard report: {exc}", file=sys.stderr)
        return 2
    out(result.aggregate.text() or "No sessions found.")
    out("")
    out(result.stats.describe().capitalize() + ".")
    for example in result.stats.examples[:5]:
        out(f"  bad line: {example}")
    bug_summary = pick_bug_session(result.summaries, args.session)
    if args.session and bug_summary is None:
        print(f"liveguard report: no session {args.session!r} in the logs", file=sys.stderr)
        return 2
    bug = None
    if bug_summary is not None and (args.bug_report or args.html):
        bug = (bug_summary, bug_report_for(result, bug_summary))
        if args.bug_report:
            args.bug_report.parent.mkdir(parents=True, exist_ok=True)
            args.bug_report.write_text(bug[1], encoding="utf-8")
            out(f"Bug report for session {bug_summary.session}: {args.bug_report}")
    elif args.bug_report:
        out("No bug report: every session was healthy (pick one with --session).")
    if args.html:
        write_html(
            result,
            args.html,
            bug=bug,
            max_timelines=max(0, args.max_timelines),
            focus=args.session,
        )
        out(f"HTML report: {args.html}")
    return 0
