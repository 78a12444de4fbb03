#!/usr/bin/env python3
"""Renders the benchmark tables of README.md and docs/performance.md from the figures the
benchmarks wrote (docs/benchmarks/*.json, CREDITS_BENCH_JSON=file), so that every figure in them
is one a rerun reproduces. Each table takes the newest day's runs of its benchmark and shows
the median and range.

    scripts/render-benchmarks.py          # rewrites the tables between <!-- benchmarks:NAME --> markers
    scripts/render-benchmarks.py --check  # exit 1 when a table is not what the files give

Adding runs:  CREDITS_BENCH_JSON=docs/benchmarks/e2e-$(date -u +%Y%m%dT%H%M%S).json .build/release/credits-bench e2e
"""
import json
import pathlib
import re
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "performance.md"]


def runs():
    found = {}
    for path in sorted((ROOT / "docs" / "benchmarks").glob("*.json")):
        figures = json.loads(path.read_text())
        found.setdefault(figures["benchmark"], []).append(figures)
    newest = {}
    for name, items in found.items():
        day = max(item["measured_at"][:10] for item in items)
        newest[name] = [item for item in items if item["measured_at"][:10] == day]
    return newest


def number(value):
    """12 345: thousands separated by a space, as the rest of the docs write them."""
    return f"{int(round(value)):,}".replace(",", " ")


def spread(values, unit=""):
    values = sorted(values)
    median = statistics.median(values)
    text = number
    if len(values) == 1:
        return text(median) + unit
    return f"{text(median)}{unit} ({text(values[0])} – {text(values[-1])})"


def table(name, items):
    day = items[0]["measured_at"][:10]
    if name == "store":
        commands = sorted({item["command"] for item in items})
        return "\n".join([
            f"Store, {day}, {len(items)} runs (`CREDITS_BENCH_STORE_ONLY=1 .build/release/{commands[0]}`; median and range):",
            "",
            "| what | events/s |",
            "|---|---|",
            f"| usage applied through the SQLite store | {spread([i['store_per_second'] for i in items])} |",
        ])
    if name == "e2e":
        first = items[0]
        rows = [
            f"End to end, {day}, {len(items)} runs (`.build/release/{first['command']}`: broker and service as processes, "
            f"{number(first['events'])} usage events{' (' + first['event_mix'] + ')' if 'event_mix' in first else ''}, "
            f"{number(first['customers'])} customers, {first['partitions']} partitions, "
            f"{first['cores']} cores; median and range):",
            "",
            "| what | figure |",
            "|---|---|",
            f"| raw consume (the ceiling) | {spread([i['raw_consume_per_second'] for i in items])} msg/s |",
            f"| end to end, until every balance change is published | {spread([i['end_to_end_per_second'] for i in items])} events/s |",
        ]
        if all("steady_per_second" in i for i in items):
            rows.append(
                f"| the same without the start: a tenth to nine tenths read back | "
                f"{spread([i['steady_per_second'] for i in items])} events/s |")
        rows += [
            f"| CPU (service and broker) per event | {spread([i['cpu_microseconds_per_event'] for i in items])} µs |",
        ]
        for rate in sorted({row["offered_per_second"] for i in items for row in i["latency"]}):
            at = [row for i in items for row in i["latency"] if row["offered_per_second"] == rate]
            rows.append(
                f"| latency at {number(rate)} events/s offered: p50, p99, max | "
                + f"{spread([r['p50_ms'] for r in at])} ms; {spread([r['p99_ms'] for r in at])} ms; "
                + f"{spread([r['max_ms'] for r in at])} ms |")
        return "\n".join(rows)
    raise SystemExit(f"no table for benchmark {name}")


def main():
    check = "--check" in sys.argv[1:]
    tables = {name: table(name, items) for name, items in runs().items()}
    stale = []
    for document in DOCUMENTS:
        text = document.read_text()
        rendered = text
        for name, body in tables.items():
            pattern = re.compile(rf"(<!-- benchmarks:{name} -->\n).*?(<!-- /benchmarks:{name} -->)", re.S)
            rendered = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), rendered)
        for name in re.findall(r"<!-- benchmarks:(\w+) -->", text):
            if name not in tables:
                raise SystemExit(f"{document.name}: no figures for benchmark {name} in docs/benchmarks")
        if rendered != text:
            stale.append(document.relative_to(ROOT))
            if not check:
                document.write_text(rendered)
    if check and stale:
        print("not rendered from docs/benchmarks: " + ", ".join(map(str, stale)) + " (run scripts/render-benchmarks.py)")
        return 1
    print(("checked " if check else "rendered ") + ", ".join(sorted(tables)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
