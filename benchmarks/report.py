"""The benchmark's table, target checks, plot and ``docs/benchmarks.md``."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.load import SLACK_ACK_LIMIT, Sample, Stats

if TYPE_CHECKING:
    from benchmarks.run import AppRun, Config, DeployPhase, InstallPhase

__all__ = [
    "Report", "Row", "Target", "load_average", "machine_info", "print_report", "rows", "targets",
    "write_docs",
]

ACK_TARGET = 0.100
TYPEAHEAD_TARGET = 0.025
RSS_TARGET_MIB = 120.0


@dataclass(frozen=True, slots=True)
class Report:
    runs: list[AppRun]
    config: Config
    machine: dict[str, str]
    date: datetime
    command: str
    duration: float
    search: str
    socket_mode: str = ""  #: benchmarks.socket_mode's table, when it ran
    health: str = ""  #: benchmarks.health_sweep's lines

    def run(self, key: str) -> AppRun | None:
        return next((r for r in self.runs if r.key == key), None)


@dataclass(frozen=True, slots=True)
class Row:
    metric: str
    ours: str
    peer: str
    ratio: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    value: str
    met: bool


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews the figures)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "CPU": f"{model}, {os.cpu_count()} cores (nproc)",
        "memory": memory or "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": ", ".join(
            f"{d} {version(d)}" for d in ("slack_bolt", "slack_sdk", "gunicorn", "Flask", "SQLAlchemy")
        ),
    }


# -- formatting ------------------------------------------------------------------------------------


def _ms(seconds: float, timeout: float) -> str:
    if math.isnan(seconds):
        return "–"
    ms = seconds * 1000
    text = f"{ms:.1f}" if ms < 10 else f"{ms:,.0f}"
    return ("≥" + text) if seconds >= timeout * 0.999 else text


def _triplet(stats: Stats, timeout: float) -> str:
    if not stats.count:
        return "–"
    return " / ".join(_ms(v, timeout) for v in (stats.p50, stats.p95, stats.p99))


def _ratio(ours: float, peer: float) -> str:
    if math.isnan(ours) or math.isnan(peer) or ours <= 0:
        return "–"
    ratio = peer / ours
    return f"×{ratio:,.0f}" if ratio >= 10 else f"×{ratio:.1f}" if ratio >= 1 else f"×{ratio:.2f}"


def _phase(run: AppRun | None, concurrency: int) -> InstallPhase | None:
    if run is None:
        return None
    return next((p for p in run.phases if p.concurrency == concurrency), None)


def _deploy_phase(run: AppRun | None, concurrency: int) -> DeployPhase | None:
    if run is None:
        return None
    return next((p for p in run.deploy_phases if p.concurrency == concurrency), None)


def _late(samples: Sequence[Sample]) -> str:
    stats = Stats.of_samples(samples)
    return f"{stats.late} of {stats.count} ({stats.timeouts} timed out)" if stats.count else "–"


# -- the table --------------------------------------------------------------------------------------


def rows(report: Report) -> list[Row]:
    ours, peer = report.run("ours"), report.run("peer")
    timeout = report.config.timeout
    out: list[Row] = []

    def number(metric: str, get: Callable[[AppRun], float], fmt: str, *, ratio: bool = True) -> None:
        values = [get(r) if r else math.nan for r in (ours, peer)]
        cells = ["–" if math.isnan(v) else format(v, fmt) for v in values]
        out.append(Row(metric, cells[0], cells[1], _ratio(values[0], values[1]) if ratio else ""))

    def text(metric: str, get: Callable[[AppRun], str]) -> None:
        out.append(Row(metric, get(ours) if ours else "–", get(peer) if peer else "–"))

    def latency(metric: str, get: Callable[[AppRun], Stats]) -> None:
        stats = [get(r) if r else None for r in (ours, peer)]
        cells = [_triplet(s, timeout) if s else "–" for s in stats]
        p99 = [s.p99 if s and s.count else math.nan for s in stats]
        out.append(Row(metric, cells[0], cells[1], _ratio(p99[0], p99[1])))

    def phase_stats(concurrency: int, pick: Callable[[InstallPhase], Sequence[Sample]]) -> Callable[
        [AppRun], Stats
    ]:
        def get(run: AppRun) -> Stats:
            phase = _phase(run, concurrency)
            return Stats.of_samples(pick(phase)) if phase else Stats.of([])

        return get

    def phase_delays(concurrency: int, pick: Callable[[InstallPhase], list[float]]) -> Callable[
        [AppRun], Stats
    ]:
        def get(run: AppRun) -> Stats:
            phase = _phase(run, concurrency)
            return Stats.of(pick(phase)) if phase else Stats.of([])

        return get

    def phase_text(concurrency: int, show: Callable[[InstallPhase], str]) -> Callable[[AppRun], str]:
        def get(run: AppRun) -> str:
            phase = _phase(run, concurrency)
            return show(phase) if phase else "–"

        return get

    number("start-up to a healthy /healthz (s)", lambda r: r.startup, ".2f")
    for c in report.config.concurrencies:
        latency(f"`/cyclr install` ack, {c} at once: p50 / p95 / p99 (ms)",
                phase_stats(c, lambda p: p.commands))
        text(f"… {c} at once: no 200 within 3 s", phase_text(c, lambda p: _late(p.commands)))
        text(f"… {c} at once: modals opened", phase_text(c, lambda p: f"{p.modals_opened}/{p.concurrency}"))
        latency(f"… {c} at once: command sent → modal opened (`views.open` received)",
                phase_delays(c, lambda p: p.modal_delays))
    for c in report.config.concurrencies:
        latency(f"install submission ack, {c} at once: p50 / p95 / p99 (ms)",
                phase_stats(c, lambda p: p.submissions))
        text(f"… {c} at once: no 200 within 3 s", phase_text(c, lambda p: _late(p.submissions)))
    latency_s = report.config.install_latency
    for c in report.config.concurrencies:
        latency(f"submit → DM posted minus {latency_s:g} s, {c} at once: p50 / p95 / p99 (ms)",
                phase_delays(c, lambda p: p.dm_delays))
        text(f"… {c} at once: DMs posted", phase_text(c, lambda p: f"{len(p.dm_delays)}/{p.concurrency}"))
    # Deploys: ours only (the peer has none, so its cells are "–").
    def deploy_stats(concurrency: int) -> Callable[[AppRun], Stats]:
        def get(run: AppRun) -> Stats:
            phase = _deploy_phase(run, concurrency)
            return Stats.of_samples(phase.submissions) if phase else Stats.of([])

        return get

    def deploy_text(concurrency: int, show: Callable[[DeployPhase], str]) -> Callable[[AppRun], str]:
        def get(run: AppRun) -> str:
            phase = _deploy_phase(run, concurrency)
            return show(phase) if phase else "–"

        return get

    for c in report.config.concurrencies:
        latency(f"deploy submission ack, {c} at once: p50 / p95 / p99 (ms)", deploy_stats(c))
        text(f"… {c} at once: no 200 within 3 s", deploy_text(c, lambda p: _late(p.submissions)))
        text(f"… {c} at once: deploy modals opened (*Deploy* clicked)",
             deploy_text(c, lambda p: f"{p.modals_opened}/{p.concurrency}"))
        text(f"… {c} at once: deploys made (cycles in the sandbox) / submitted",
             deploy_text(c, lambda p: f"{p.made}/{len(p.submissions)}"))
        text(f"… {c} at once: checklist DMs posted",
             deploy_text(c, lambda p: f"{p.checklists}/{p.concurrency}"))
    sample = ours or peer
    size = sample.catalogue_size if sample else 0
    latency(
        f"typeahead over {size:,} connectors, {report.config.typeahead_queries} queries"
        f" ({report.config.typeahead_concurrency} at a time): p50 / p95 / p99 (ms)",
        lambda r: Stats.of_samples(r.typeahead),
    )
    text("… typeahead: no 200 within 3 s", lambda r: _late(r.typeahead))
    number("Cyclr calls per install (its command + its submission)",
           lambda r: r.cyclr_calls_per_install, ".2f")
    number("Cyclr calls per deploy (its click, its submission, its job, its checklist)",
           lambda r: r.cyclr_calls_per_deploy, ".2f", ratio=False)
    number("catalogue fetches per 100 typeahead requests", lambda r: r.catalogue_fetches_per_100, ".1f")
    number("token calls (POST /oauth/token) per run", lambda r: r.token_calls, "d")
    number("Cyclr calls per run, all but the deploys", lambda r: r.cyclr_calls, "d")
    text("installs made / submitted", lambda r: f"{r.installs_made}/{r.installs_submitted}")
    text("deploys made / submitted",
         lambda r: f"{r.deploys_made}/{r.deploys_submitted}" if r.deploy_phases else "–")
    number("RSS at the end, largest child process (MiB)",
           lambda r: r.memory.worker_rss_mib if r.memory else math.nan, ".1f")
    number("PSS at the end, the server and every process it started (MiB)",
           lambda r: r.memory.total_pss_mib if r.memory else math.nan, ".1f")
    return out


def targets(report: Report) -> list[Target]:
    """The issue's targets, for the runs that were made."""
    ours, peer = report.run("ours"), report.run("peer")
    found: list[Target] = []
    top = 50 if 50 in report.config.concurrencies else max(report.config.concurrencies)
    timeout = report.config.timeout
    if ours is not None:
        phase = _phase(ours, top)
        if phase is not None:
            for what, samples in (("`/cyclr install`", phase.commands), ("submission", phase.submissions)):
                stats = Stats.of_samples(samples)
                found.append(Target(f"ours: {what} ack p99 at {top} at once < 100 ms",
                                    f"{_ms(stats.p99, timeout)} ms", stats.p99 < ACK_TARGET))
        deploy = _deploy_phase(ours, top)
        if deploy is not None:
            stats = Stats.of_samples(deploy.submissions)
            found.append(Target(f"ours: deploy submission ack p99 at {top} at once < 100 ms",
                                f"{_ms(stats.p99, timeout)} ms ({deploy.made}/{top} deployed)",
                                stats.p99 < ACK_TARGET and len(deploy.submissions) == top))
        stats = Stats.of_samples(ours.typeahead)
        found.append(Target("ours: typeahead p99 < 25 ms", f"{_ms(stats.p99, timeout)} ms",
                            stats.p99 < TYPEAHEAD_TARGET))
        if ours.memory is not None:
            rss = ours.memory.worker_rss_mib
            found.append(Target("ours: RSS of the largest worker < 120 MB", f"{rss:.1f} MiB",
                                rss < RSS_TARGET_MIB))
    if peer is not None:
        phase = _phase(peer, top)
        if phase is not None:
            for what, samples in (("`/cyclr install`", phase.commands), ("submission", phase.submissions)):
                stats = Stats.of_samples(samples)
                found.append(Target(
                    f"peer: {what} ack p99 at {top} at once exceeds Slack's 3 s or times out",
                    f"{_ms(stats.p99, timeout)} ms, {stats.late} late, {stats.timeouts} timed out",
                    stats.p99 > SLACK_ACK_LIMIT or stats.timeouts > 0,
                ))
    return found


# -- output -----------------------------------------------------------------------------------------


def _headers(report: Report) -> list[str]:
    ours, peer = report.run("ours"), report.run("peer")
    return ["metric", ours.label if ours else "ours", peer.label if peer else "peer", "peer/ours (p99)"]


def text_table(report: Report) -> str:
    table = [_headers(report)] + [[r.metric, r.ours, r.peer, r.ratio] for r in rows(report)]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    lines = []
    for n, line in enumerate(table):
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)]
        lines.append(" | ".join(cells).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(report: Report) -> str:
    lines = ["| " + " | ".join(_headers(report)) + " |", "| --- | ---: | ---: | ---: |"]
    for r in rows(report):
        lines.append(f"| {r.metric} | {r.ours} | {r.peer} | {r.ratio} |")
    return "\n".join(lines)


def _socket_mode_section(report: Report) -> str:
    if not report.socket_mode:
        return ""
    return f"""
## Socket Mode: refreshes and drops

`python -m benchmarks.socket_mode` (in-process, against the Socket Mode stand-in):

```
{report.socket_mode}
```
"""


def _health_section(report: Report) -> str:
    if not report.health:
        return ""
    return f"""
## Connector health sweep

`python -m benchmarks.health_sweep` (in-process: the bot's health service, the Cyclr sandbox
on loopback, SQLite):

```
{report.health}
```
"""


def print_report(report: Report) -> bool:
    """Print the table and the target checks; True when a target was missed."""
    print()
    if report.config.ours_env:
        print("ours ran with " + " ".join(f"{k}={v}" for k, v in report.config.ours_env))
    print(text_table(report))
    print()
    if report.socket_mode:
        print(report.socket_mode)
        print()
    if report.health:
        print(report.health)
        print()
    missed = False
    for target in targets(report):
        missed |= not target.met
        print(f"{'met   ' if target.met else 'MISSED'}  {target.text}: {target.value}")
    print()
    return missed


def plot(report: Report, path: Path) -> None:
    """Ack latency per concurrency (ours vs peer, log scale), submit → DM, and typeahead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    colours = {"ours": "tab:blue", "peer": "tab:red"}
    as_ms = FuncFormatter(lambda value, _pos: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    # (title, latencies of a phase, reference lines as (ms, label))
    panels: list[tuple[str, Callable[[InstallPhase], list[float]], list[tuple[float, str]]]] = [
        ("/cyclr install: ack", lambda p: [s.elapsed for s in p.commands],
         [(SLACK_ACK_LIMIT * 1000, "Slack's 3 s limit"), (ACK_TARGET * 1000, "100 ms target")]),
        ("install submission: ack", lambda p: [s.elapsed for s in p.submissions],
         [(SLACK_ACK_LIMIT * 1000, "Slack's 3 s limit"), (ACK_TARGET * 1000, "100 ms target"),
          (report.config.timeout * 1000, "client timeout")]),
        (f"submission → DM posted, minus the sandbox's {report.config.install_latency:g} s",
         lambda p: p.dm_delays, []),
    ]
    levels = list(report.config.concurrencies)
    for ax, (title, pick, lines) in zip(axes.flat, panels, strict=False):
        for run in report.runs:
            for fraction, style in ((0.5, "-"), (0.99, "--")):
                ys = []
                for c in levels:
                    phase = _phase(run, c)
                    values = [max(v, 1e-4) * 1000 for v in pick(phase)] if phase else []
                    ys.append(Stats.of(values).p50 if fraction == 0.5 else Stats.of(values).p99)
                ax.plot(levels, ys, style, marker="o", color=colours.get(run.key, "grey"),
                        label=f"{run.label} p{round(fraction * 100)}")
        for y, label in lines:
            ax.axhline(y, color="black", linestyle=":", linewidth=1)
            ax.annotate(label, (levels[0], y), xytext=(2, 2), textcoords="offset points", fontsize=8)
        ax.set_title(title)
        ax.set_xlabel("requests at once")
        ax.set_xticks(levels)
    ax = axes.flat[3]
    for run in report.runs:
        values = sorted(max(s.elapsed, 1e-4) * 1000 for s in run.typeahead)
        if values:
            xs = [100 * (i + 1) / len(values) for i in range(len(values))]
            ax.plot(xs, values, color=colours.get(run.key, "grey"), label=run.label)
    ax.axhline(TYPEAHEAD_TARGET * 1000, color="black", linestyle=":", linewidth=1)
    ax.annotate("25 ms target", (0, TYPEAHEAD_TARGET * 1000), xytext=(2, 2), textcoords="offset points",
                fontsize=8)
    ax.set_title(f"typeahead: {report.config.typeahead_queries} options requests, sorted")
    ax.set_xlabel("percentile")
    for ax in axes.flat:
        ax.set_ylabel("ms (log scale)")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(as_ms)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Cyclr for Slack vs a plain Bolt peer, HTTP mode ({report.date:%Y-%m-%d})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs(report: Report, path: Path) -> None:
    """``path`` (Markdown) and the plot next to it (same name, ``.png``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = path.with_suffix(".png")
    plot(report, image)
    config = report.config
    machine = "\n".join(f"- {key}: {value}" for key, value in report.machine.items())
    checks = "\n".join(
        f"- {'✅' if t.met else '❌'} {t.text}: {t.value}" for t in targets(report)
    ) or "- (no runs)"
    levels = ", ".join(str(c) for c in config.concurrencies)
    text = f"""# Benchmarks

Written by `{report.command}` ({_make_form(report.command)}) on {report.date:%Y-%m-%d %H:%M} UTC;
the run took {report.duration / 60:.1f} min. `make bench` installs the `bench` extra (matplotlib)
first; `make bench ARGS=--quick` is a short run that leaves this file alone.

## Machine

{machine}

## What runs

Both apps serve HTTP the way they would in production, one after the other, each against a
fresh Cyclr sandbox ({report.runs[0].catalogue_size if report.runs else 0:,} connectors, install
latency {config.install_latency:g} s{_api_latency(config)}) and Slack Web API stand-in, both in
the benchmark process on loopback; the bursts come from an asyncio loop in a process of its own, the typeahead
requests from the same code in the benchmark process:

- **{_label(report, "ours")}**: `cyclr-bot run --http`, its defaults: intake is gunicorn
  with one `gthread` worker of 16 threads, and a job worker process beside it
  ({_workers(report, "ours")} processes under the master in all), both on a SQLite store;
  `/cyclr install` acks at once and `views.open` follows just after the ack in intake; a
  submission writes its install row and job and acks, and the worker makes the Cyclr call and
  posts the DM; the catalogue is cached){_overrides(config)}.
- **{_label(report, "peer")}**: `benchmarks/peer_app.py`, the listeners as Bolt's docs write them
  (`App()` defaults, so a 5-thread listener pool; `ack()` then the Cyclr calls inside the listener;
  a token and the whole catalogue fetched with `requests` for every command and options request),
  served by `gunicorn benchmarks.peer_app:web` with gunicorn's defaults (one sync worker).

The load: signed requests built as Slack builds them, each on its own connection. The time
to the HTTP response is the ack latency Slack sees; no `200` within {SLACK_ACK_LIMIT:g} s is an
error for the user, and the client gives up after {config.timeout:g} s. After a warm-up (one
command, one options request):

1. typeahead: {config.typeahead_queries} varied queries (the search micro-benchmark's mix: prefixes,
   typos, empty, 5,000 characters, junk) as options requests, {config.typeahead_concurrency} at a time;
2. for each of {levels} users at once (new users each time, so the bot's `users.info` cache is
   cold): all run `/cyclr install` together (fresh trigger ids, which expire after 3 s), then
   all submit the modal they got (a *Webhook* install, unique name) together. *command sent →
   modal opened* is the time until the stand-in receives the `views.open` call, which the user
   sees as the modal; ours sends it just after its ack, the peer from inside its listener after
   `ack()` and a catalogue fetch. *submit → DM*
   is the time from sending the submission to the stand-in receiving the DM that reports the
   install, minus the sandbox's install latency: the bot's own overhead, queueing included;
3. {_label(report, "ours")} only (the peer has no deploys: "–"): after one `/cyclr templates`,
   for each of {levels} new users at once, all click its *Deploy* button for *{config.template}*
   together (no connector of it needs auth, so the work is the deploy itself) and all submit the
   `cyclr_deploy` modal the bot opened for them together. *Deploys made* are the cycles of that
   template the sandbox gained (the template install also waits the install latency); the
   checklist DM follows each.

Counts come from the sandbox's request log: Cyclr calls per install count every Cyclr call made
during the install phases (commands and submissions) per submission; Cyclr calls per deploy
count every Cyclr call from the first *Deploy* click to the last checklist, per deploy made (the
per-run count leaves the deploys out, so both apps' runs compare); catalogue fetches are the
`GET /v1.0/connectors` pages during the typeahead phase divided by the pages of one catalogue.
RSS is `VmRSS` of the largest gunicorn worker, at the end of its run; PSS
(`/proc/<pid>/smaps_rollup`) of master and workers adds them up without counting the pages
the forked workers share with the master twice.

## Results

{markdown_table(report)}

Latency cells are p50 / p95 / p99 in ms (nearest rank); `≥` marks a percentile that reached
the client timeout. The ratio column is peer ÷ ours of the p99 (or of the count).

![Ack latency per concurrency, submit → DM, typeahead]({image.name})

## Targets

{checks}

## Search micro-benchmark

`python -m benchmarks.search_bench` (in-process, no HTTP):

```
{report.search}
```
{_socket_mode_section(report)}{_health_section(report)}
## Caveats

- Everything shares {report.machine.get("CPU", "the machine")}: the load generator, both
  stand-ins and the app under test compete for the same cores, so the absolute numbers are
  pessimistic; the ratio is what carries over.
- {"The sandbox answers in microseconds apart from installs" if not config.api_latency else
  f"Every Cyclr call here takes {config.api_latency * 1000:g} ms more"}; a real Cyclr adds network
  round-trips, which hurt the peer (about {_peer_calls(report)} Cyclr calls per options
  request) far more than the bot (cached catalogue).
"""
    path.write_text(text, encoding="utf-8")


def _make_form(command: str) -> str:
    """How ``make`` runs ``command``: ``make bench``, with ``ARGS`` when it has options."""
    args = command.split("benchmarks.run", 1)[-1].strip()
    return "what `make bench` runs" if not args else f"`make bench ARGS='{args}'`"


def _api_latency(config: Config) -> str:
    if not config.api_latency:
        return ""
    return f", and {config.api_latency * 1000:g} ms added to every call as a network round trip"


def _overrides(config: Config) -> str:
    if not config.ours_env:
        return ""
    return ", run with " + ", ".join(f"`{key}={value}`" for key, value in config.ours_env)


def _workers(report: Report, key: str) -> str:
    run = report.run(key)
    return str(len(run.memory.workers)) if run and run.memory else "?"


def _label(report: Report, key: str) -> str:
    run = report.run(key)
    return run.label if run else key


def _peer_calls(report: Report) -> str:
    run = report.run("peer")
    return str(run.catalogue_pages + 1) if run else "13"
