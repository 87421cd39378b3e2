"""Stress harness (benchmarks/stress): run the five stress scripts and print one table.

One job: run slowloris, slowbody, soak, idle and fuzz one after another (each in its own
process, each starting its own server), collect their figures, and print a markdown
table with each criterion, the measured figures and the verdict. With --write it also
writes benchmarks/stress/RESULTS.md (date, Python, machine, command, table).
Exits non-zero if any script failed.

    python benchmarks/stress/run_all.py [--quick] [--write] [--only soak,fuzz]

--quick shortens everything (seconds instead of minutes) for checking the harness.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE_ENV = "MICRO_STRESS_SOURCE"  # read by common.running_server
NOTES_MARKER = "<!-- notes: kept by run_all.py --write -->"
SCRIPTS = ("slowloris", "slowbody", "soak", "idle", "fuzz")
QUICK = {
    "slowloris": ["--connections", "100", "--seconds", "5", "--requests", "50"],
    "slowbody": [
        "--each",
        "20",
        "--seconds",
        "5",
        "--requests",
        "50",
        "--uploads",
        "200",
        "--big-mib",
        "256",
    ],
    "soak": ["--seconds", "12", "--warm-seconds", "5"],
    "idle": ["--connections", "300", "--wrk-seconds", "2"],
    "fuzz": ["--count", "2000"],
}
CRITERIA = {
    "slowloris": "500 conns dribbling 1 header byte/s for 20 s; 200 sequential requests: "
    "0 failures, p99 < 100 ms",
    "slowbody": "50 conns dripping a body 1 byte/s + 50 stalled bodies + 50 slow "
    "100-continue for 20 s, 4 threads; 200 sequential requests: 0 failures, p99 < 100 ms. "
    "1,000 half-sent uploads held: RSS reported. One 2 GiB upload: answered right, "
    "RSS peak <= before + 64 MiB",
    "soak": "wrk 60 s, 100 conns: 0 errors; RSS at end <= RSS at 10 s + 5%",
    "idle": "2,000 idle keep-alive conns: < 50 MB RSS; still full speed (server CPU per "
    "request <= 1.25x, keep-alive p50 <= 2x)",
    "fuzz": "100,000 mutated requests: no crash, every response well-framed, "
    "normal requests served afterwards",
}


def figures_cell(name: str, f: dict[str, Any]) -> str:
    """The measured figures of one script, in a line."""
    if not f:
        return "(no figures)"
    if name == "slowloris":
        return (
            f"{f['requests']} requests: {f['failures']} failures, p50 {f['p50_ms']} ms, "
            f"p99 {f['p99_ms']} ms, max {f['max_ms']} ms; attackers held >= "
            f"{f['attack_open_min']}/{f['connections']}, {f['attack_closed_by_server']} "
            f"closed by the server (first after {fmt(f['attack_first_close_s'])} s) and reopened"
        )
    if name == "slowbody":
        parts = []
        a = f.get("attack")
        if a:
            parts.append(
                f"{a['requests']} requests: {a['failures']} failures, p50 {a['p50_ms']} ms, "
                f"p99 {a['p99_ms']} ms, max {a['max_ms']} ms; attackers held >= "
                f"{a['attack_open_min']}/{3 * a['each']}, "
                f"{a['attack_100_continue_received']} got their 100"
            )
        for run in f.get("uploads", {}).get("runs", []):
            parts.append(
                f"{run['uploads']} uploads of {run['body_kib']} KiB, {run['sent_kib_each']} KiB "
                f"sent each: RSS {run['rss_before_mib']} -> {run['rss_with_mib']} -> "
                f"{run['rss_after_mib']} MiB"
            )
        b = f.get("big")
        if b:
            parts.append(
                f"{b['bytes'] // 2**20} MiB upload in {b['send_s']} s ({b['mib_per_s']} MiB/s), "
                f"answer {'right' if b['answer'] == b['expected'] else 'WRONG'}; RSS "
                f"{b['rss_before_mib']} -> peak {b['rss_peak_mib']} -> {b['rss_after_mib']} MiB"
            )
        return "; ".join(parts)
    if name == "soak":
        errors = sum(f["socket_errors"].values()) + f["non_2xx_3xx"]
        return (
            f"{f['requests']} requests, {f['rps']:.0f} req/s, p99 {f['latency_p99_ms']} ms, "
            f"{errors} errors; RSS {f['rss_ref_mib']} MiB at 10 s -> {f['rss_end_mib']} MiB "
            f"at end ({f['rss_growth_pct']:+}%), peak {f['rss_peak_mib']} MiB"
        )
    if name == "idle":
        w, wo = f["with"], f["without"]
        return (
            f"{f['held_min']}/{f['connections']} held; RSS {f['rss_before_mib']} -> "
            f"{f['rss_with_mib']} MiB (+{f['rss_delta_mb']} MB, {f['per_connection_kib']} KiB "
            f"each); without/with, median of {f['rounds']} rounds: wrk "
            f"{wo['wrk_rps']:.0f}/{w['wrk_rps']:.0f} req/s (paired ratio {f['wrk_ratio']:.0%}), "
            f"server CPU {wo['cpu_us_per_request']}/{w['cpu_us_per_request']} us/request "
            f"(paired ratio {f['cpu_ratio']}), "
            f"keep-alive p50 {wo['seq_p50_ms']}/{w['seq_p50_ms']} ms, p99 "
            f"{wo['seq_p99_ms']}/{w['seq_p99_ms']} ms, new-connection p50 "
            f"{wo['fresh_p50_ms']}/{w['fresh_p50_ms']} ms"
        )
    outcomes = f["outcomes"]
    benign = ("ok", "silent-close", "reset-after-close")
    bad = {k: v for k, v in outcomes.items() if k not in benign}
    return (
        f"{f['requests']} mutated + {f['valid_requests']} valid requests, "
        f"{f['connections']} conns, {f['seconds']} s; clean {outcomes.get('ok', 0)}, silent "
        f"close {outcomes.get('silent-close', 0)}, reset after the client's own close "
        f"{outcomes.get('reset-after-close', 0)}, failures {bad or 0}; statuses "
        f"{f['statuses']}; framings {f.get('framings')}; "
        f"valid requests answered with an unasked close "
        f"{f.get('unasked_close') or 0}; server {'alive' if f['server_alive'] else 'DEAD'}, after: "
        f"{'OK' if not f['after_failures'] else f['after_failures'][0]}"
    )


def fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def run_one(name: str, extra: list[str], workdir: Path) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out), *extra]
    print(f"$ {shlex.join(cmd)}", flush=True)
    t0 = time.monotonic()
    # Each script bounds its own time; this limit only guards against a harness bug.
    proc = subprocess.Popen(cmd)
    try:
        code = proc.wait(timeout=1800)
    except subprocess.TimeoutExpired:
        code = -1
    finally:
        if proc.poll() is None:
            # Interrupted (or the guard expired): let the script stop its own server.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result: dict[str, Any] = {"name": name, "ok": False, "summary": "", "figures": {}}
    if out.exists():
        result = json.loads(out.read_text())
    if code != 0:
        result["ok"] = False
        result["summary"] = result.get("summary") or f"exit status {code}"
    result["wall_s"] = round(time.monotonic() - t0, 1)
    print(f"  (micro imported from {result['figures'].get('micro_source', '?')})", flush=True)
    return result


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB RAM, {platform.platform()}"


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| test | criterion | figures | verdict |", "| --- | --- | --- | --- |"]
    for r in results:
        cell = figures_cell(r["name"], r["figures"]).replace("|", "\\|")
        verdict = "PASS" if r["ok"] else "**FAIL**"
        rows.append(f"| {r['name']} | {CRITERIA[r['name']]} | {cell} | {verdict} |")
    return "\n".join(rows)


def on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs to check the harness")
    parser.add_argument("--write", action="store_true", help="write benchmarks/stress/RESULTS.md")
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated subset")
    parser.add_argument("--impl", choices=("micro", "waitress", "wsgiref"), default="micro")
    parser.add_argument(
        "--via-cli", action="store_true", help="start servers with `python -m micro serve`"
    )
    parser.add_argument(
        "--source",
        choices=("head", "tree"),
        default="head",
        help="test micro as committed at HEAD (exported to a temporary directory; the "
        "default, since the working tree is shared) or the working tree as it is",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(SCRIPTS)
    if unknown:
        parser.error(f"unknown scripts: {sorted(unknown)}")
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = datetime.datetime.now(datetime.UTC)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="micro-stress-") as tmp:
            revision = describe_source(args.source, Path(tmp))
            print(f"micro under test: {revision}", flush=True)
            for name in names:
                extra = (QUICK[name] if args.quick else []) + ["--impl", args.impl]
                extra += ["--via-cli"] if args.via_cli else []
                results.append(run_one(name, extra, Path(tmp)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    text = table(results)
    print()
    print(text)
    if args.write:
        command = "python benchmarks/stress/run_all.py " + shlex.join(argv or sys.argv[1:])
        path = HERE / "RESULTS.md"
        # Hand-written findings below the marker survive a rewrite of the figures.
        old = path.read_text() if path.exists() else ""
        notes = old[old.index(NOTES_MARKER) :] if NOTES_MARKER in old else NOTES_MARKER + "\n"
        path.write_text(results_md(text, results, started, command.strip(), revision) + notes)
        print(f"\nwrote {HERE / 'RESULTS.md'}")
    return 0 if all(r["ok"] for r in results) else 1


def describe_source(source: str, tmp: Path) -> str:
    """Export HEAD's micro package for the servers to import, or use the tree as is."""
    repo = HERE.parent.parent
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if source == "tree":
        os.environ.pop(SOURCE_ENV, None)
        return f"working tree at {repo} (HEAD {commit}, uncommitted edits included)"
    export = tmp / "source"
    export.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "HEAD", "micro"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
    os.environ[SOURCE_ENV] = str(export)
    return f"commit {commit} (micro/ exported from HEAD)"


def results_md(
    text: str, results: list[dict[str, Any]], started: Any, command: str, revision: str
) -> str:
    verdicts = "\n".join(
        f"- {r['name']}: {'PASS' if r['ok'] else 'FAIL'} — {r['summary']} (wall {r['wall_s']} s)"
        for r in results
    )
    return f"""# Stress results (issue 5)

Produced by `benchmarks/stress/run_all.py`; see `benchmarks/stress/README.md` for what
each script does and how it decides. The server under test runs in its own process
on 127.0.0.1 serving a hello-world WSGI app; the clients (Python and wrk) share the
same machine, so the figures are for the pair, not for the server alone.

- Date: {started:%Y-%m-%d %H:%M} UTC
- Python: {platform.python_version()} ({platform.python_implementation()})
- Machine: {machine()}
- micro: {revision}
- Command: `{command}`

{text}

One-line verdicts:

{verdicts}

"""


if __name__ == "__main__":
    sys.exit(main())
