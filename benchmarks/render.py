"""Time the renderers on a 500-check scorecard (target: HTML under 2 s) and size the example's HTML.

    python benchmarks/render.py [--checks 500] [--repeat 7]

Builds the scorecard in memory from the test suite's realistic sample (every
chart's evidence present, waivers, ML Test Score), renders each format
--repeat times in this process and prints the median wall time and the output
size. Rendering includes the JSON round trip every renderer does, so the
figure is what `readiness report` spends after loading the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from report_cards import big_card, typical_card  # noqa: E402

from readiness.reports import FORMATS, render  # noqa: E402


def _median(fmt: str, card, repeat: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        text = render(fmt, card)
        times.append(time.perf_counter() - start)
        size = len(text.encode("utf-8"))
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: 20 checks, one repeat")
    args = parser.parse_args()
    if args.smoke:
        args.checks, args.repeat = 20, 1
    render("html", typical_card())  # template compilation happens once per process; not counted
    card = big_card(args.checks)
    print(f"scorecard: {len(card.checks)} checks, {len(card.to_json()) / 1024:.0f} KiB of JSON")
    for fmt in FORMATS:
        seconds, size = _median(fmt, card, args.repeat)
        target = " (target < 2 s)" if fmt == "html" else ""
        print(f"  {fmt:<9} median {seconds * 1000:7.1f} ms{target}, {size / 1024:7.0f} KiB")
    seconds, size = _median("html", typical_card(), args.repeat)
    print(
        f"typical scorecard ({len(typical_card().checks)} checks, all charts): html {seconds * 1000:.1f} ms, {size / 1024:.0f} KiB (target < 300 KiB)"
    )
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; median of {args.repeat} runs")


if __name__ == "__main__":
    main()
