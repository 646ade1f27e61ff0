"""Inline SVG charts drawn from a check's measured values and evidence (no plotting library).

Each `*_chart` function returns SVG markup, or None when the evidence it needs
is absent, so a chart appears exactly when its evidence does. Every text label
is escaped here; the HTML template inserts the markup as is.

Shapes read (the first match wins; others are ignored):

- latency: ``measured`` (or ``measured["batches"]``) keys ``batch_N`` holding
  ``pXX_ms`` points with ``pXX_ms_lower``/``pXX_ms_upper`` bounds and a
  ``budget`` dict of ``pXX_ms`` SLOs (docs/reference/checks.md, LAT001); optionally
  ``samples_ms`` (list) or ``histogram`` (``edges_ms``, ``counts``) per batch
  size in ``evidence`` for the distribution behind the points.
- flip rate: a number ``flip_rate`` in ``measured``, a threshold
  ``max_flip_rate`` (or ``threshold``), and optionally a dict of numbers under a
  key containing ``flip`` (per feature or per noise kind).
- slices: ``slices`` (or ``groups``) in ``measured`` or ``evidence``: a list of
  rows (``column``/``group`` or ``slice``, ``n``, ``value`` or the metric's
  name, optional ``judged``/``passed``), or ``{column: {group: {...}}}``; the
  bar from ``min_metric``/``threshold``; the whole from ``overall``.
- baseline vs candidate: ``baseline`` and ``candidate`` dicts of numbers, or
  ``metrics: {name: {"baseline": x, "candidate": y}}``.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

from ..vocabulary import RAW_TIMES_ENCODING, decode_times_ms
from ._common import fmt, is_number

WIDTH = 760
LABEL_W = 190
RIGHT_PAD = 200
BAR_H = 16
ROW_H = 24
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "mse"})
_BATCH = re.compile(r"^batch_(\d+)$")
_PCT = re.compile(r"^p(\d+(?:\.\d+)?)_ms$")


def _t(text: Any) -> str:
    return escape(str(text), quote=True)


def _svg(height: float, title: str, body: list[str]) -> str:
    return (
        f'<figure class="chart"><figcaption>{_t(title)}</figcaption><div class="chartwrap">'
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'aria-label="{_t(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_t(title)}</title>" + "".join(body) + "</svg></div></figure>"
    )


class _Scale:
    def __init__(self, lo: float, hi: float, x0: float, x1: float, log: bool = False):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        if self.hi <= self.lo:
            self.hi = self.lo + 1
        self.x0, self.x1 = x0, x1

    def __call__(self, value: float) -> float:
        v = math.log10(max(value, 10**self.lo)) if self.log else value
        v = min(max(v, self.lo), self.hi)
        return self.x0 + (v - self.lo) / (self.hi - self.lo) * (self.x1 - self.x0)

    def ticks(self) -> list[float]:
        if self.log:
            out = []
            decades = self.hi - self.lo
            steps = (1,) if decades > 3 else (1, 5) if decades > 2 else (1, 2, 5)
            for e in range(math.floor(self.lo), math.ceil(self.hi) + 1):
                for m in steps:
                    v = m * 10.0**e
                    if 10**self.lo <= v * 1.0000001 and v <= 10**self.hi * 1.0000001:
                        out.append(v)
            return out
        span = self.hi - self.lo
        step = 10 ** math.floor(math.log10(span)) if span > 0 else 1
        for m in (1, 2, 5, 10):
            if span / (step * m) <= 6:
                step *= m
                break
        start = math.ceil(self.lo / step) * step
        return [start + i * step for i in range(int((self.hi - start) / step + 1e-9) + 1)]


def _axis(scale: _Scale, y: float, height: float, percent: bool = False) -> list[str]:
    out = [f'<line class="axis" x1="{scale.x0:.1f}" y1="{y:.1f}" x2="{scale.x1:.1f}" y2="{y:.1f}"/>']
    for tick in scale.ticks():
        x = scale(tick)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{y - height:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>')
        shown = (
            f"{tick:.0%}" if percent and tick * 100 == round(tick * 100) else (f"{tick:.1%}" if percent else fmt(tick))
        )
        out.append(f'<text class="tick" x="{x:.1f}" y="{y + 13:.1f}" text-anchor="middle">{_t(shown)}</text>')
    return out


# --------------------------------------------------------------------------- latency


def _batches(measured: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    source = measured.get("batches") if isinstance(measured.get("batches"), dict) else measured
    out = []
    for key, value in source.items():
        m = _BATCH.match(str(key)) or (re.match(r"^(\d+)$", str(key)) if source is not measured else None)
        if m and isinstance(value, dict):
            out.append((int(m.group(1)), value))
    return sorted(out)


def _percentiles(entry: dict[str, Any]) -> list[tuple[str, float, float | None, float | None, float | None]]:
    """(name, point, lower, upper, budget) per percentile present, in percentile order."""
    budget = entry.get("budget") if isinstance(entry.get("budget"), dict) else {}
    rows = []
    for key, value in entry.items():
        m = _PCT.match(str(key))
        if m and is_number(value):
            lo, hi, slo = entry.get(f"{key}_lower"), entry.get(f"{key}_upper"), budget.get(key)
            rows.append(
                (
                    float(m.group(1)),
                    f"p{m.group(1)}",
                    float(value),
                    float(lo) if is_number(lo) else None,
                    float(hi) if is_number(hi) else None,
                    float(slo) if is_number(slo) else None,
                )
            )
    return [r[1:] for r in sorted(rows)]


RAW_ENCODING = RAW_TIMES_ENCODING


def _decode_times_ms(raw: dict[str, Any]) -> list[float] | None:
    """Per-call times stored by the latency checks (`vocabulary.encode_times`), in ms; None if malformed."""
    return decode_times_ms(raw)


def _distribution(evidence: dict[str, Any], batch: int) -> tuple[list[float], list[float]] | None:
    """(bin edges, counts) of the timed calls at one batch size, if the evidence carries them."""
    entry = evidence.get(f"batch_{batch}")
    if not isinstance(entry, dict):
        batches = evidence.get("batches")
        entry = batches.get(f"batch_{batch}", batches.get(str(batch))) if isinstance(batches, dict) else None
    if not isinstance(entry, dict):
        entry = {}
    hist = entry.get("histogram")
    if isinstance(hist, dict) and isinstance(hist.get("edges_ms"), list) and isinstance(hist.get("counts"), list):
        edges = [float(e) for e in hist["edges_ms"] if is_number(e)]
        counts = [float(c) for c in hist["counts"] if is_number(c)]
        if len(edges) == len(counts) + 1 and counts:
            return edges, counts
    samples = entry.get("samples_ms")
    raw = entry if entry.get("encoding") == RAW_ENCODING else None
    if raw is None and isinstance(evidence.get("raw_times"), dict):
        raw = evidence["raw_times"].get(f"batch_{batch}")
    if not isinstance(samples, list) and isinstance(raw, dict):
        samples = _decode_times_ms(raw)
    if isinstance(samples, list):
        values = sorted(float(s) for s in samples if is_number(s) and s > 0)
        if len(values) >= 2:
            lo, hi = math.log10(values[0]), math.log10(values[-1])
            bins = 30
            step = (hi - lo) / bins or 1.0
            edges = [10 ** (lo + i * step) for i in range(bins + 1)]
            counts = [0.0] * bins
            for v in values:
                counts[min(int((math.log10(v) - lo) / step), bins - 1)] += 1
            return edges, counts
    return None


def latency_chart(measured: dict[str, Any], evidence: dict[str, Any] | None = None) -> str | None:
    """Per batch size: each percentile's point and confidence bounds, the SLO budget marked."""
    evidence = evidence or {}
    batches = [(b, _percentiles(e), _distribution(evidence, b)) for b, e in _batches(measured)]
    batches = [(b, rows, dist) for b, rows, dist in batches if rows]
    if not batches:
        return None
    values = [v for _, rows, _ in batches for r in rows for v in r[1:] if v is not None and v > 0]
    values += [e for _, _, dist in batches if dist for e in dist[0] if e > 0]
    lo, hi = min(values), max(values)
    log = hi / lo > 20
    if log:
        scale = _Scale(
            10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi)), LABEL_W, WIDTH - RIGHT_PAD, True
        )
    else:
        scale = _Scale(0, hi * 1.1, LABEL_W, WIDTH - RIGHT_PAD)
    body: list[str] = []
    y = 8.0
    for batch, rows, dist in batches:
        band = len(rows) * ROW_H + 22
        body.append(f'<text class="label strong" x="4" y="{y + 14:.1f}">batch size {batch}</text>')
        if dist:
            edges, counts = dist
            top = max(counts) or 1
            for i, c in enumerate(counts):
                a, b = edges[i], edges[i + 1]
                if c <= 0:
                    continue
                h = (band - 8) * c / top
                x0, x1 = scale(a), scale(b)
                body.append(
                    f'<rect class="hist" x="{x0:.1f}" y="{y + band - 4 - h:.1f}" width="{max(x1 - x0, 0.8):.1f}" height="{h:.1f}"/>'
                )
        for i, (name, point, lower, upper, budget) in enumerate(rows):
            cy = y + 22 + i * ROW_H
            ok = "" if budget is None else (" over" if (upper if upper is not None else point) > budget else " ok")
            body.append(f'<text class="label" x="{LABEL_W - 8}" y="{cy + 4:.1f}" text-anchor="end">{name}</text>')
            if lower is not None and upper is not None:
                body.append(
                    f'<line class="bound" x1="{scale(lower):.1f}" y1="{cy:.1f}" x2="{scale(upper):.1f}" y2="{cy:.1f}"/>'
                )
                for edge in (lower, upper):
                    body.append(
                        f'<line class="bound" x1="{scale(edge):.1f}" y1="{cy - 5:.1f}" x2="{scale(edge):.1f}" y2="{cy + 5:.1f}"/>'
                    )
            body.append(f'<circle class="point{ok}" cx="{scale(point):.1f}" cy="{cy:.1f}" r="4"/>')
            if budget is not None:
                bx = scale(budget)
                body.append(f'<line class="slo" x1="{bx:.1f}" y1="{cy - 9:.1f}" x2="{bx:.1f}" y2="{cy + 9:.1f}"/>')
            text = f"{fmt(point)} ms"
            if upper is not None:
                text += f" \u2264{fmt(upper)}"
            if budget is not None:
                text += f" \u00b7 SLO {fmt(budget)}"
            body.append(f'<text class="value" x="{WIDTH - RIGHT_PAD + 6}" y="{cy + 4:.1f}">{_t(text)}</text>')
        y += band
        body.append(f'<line class="sep" x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}"/>')
    body.extend(_axis(scale, y + 4, y - 4))
    legend_y = y + 32
    body.append(
        f'<circle class="point" cx="10" cy="{legend_y - 4:.1f}" r="4"/>'
        f'<text class="tick" x="18" y="{legend_y:.1f}">point estimate</text>'
        f'<line class="bound" x1="124" y1="{legend_y - 4:.1f}" x2="154" y2="{legend_y - 4:.1f}"/>'
        f'<text class="tick" x="160" y="{legend_y:.1f}">confidence bounds</text>'
        f'<line class="slo" x1="300" y1="{legend_y - 12:.1f}" x2="300" y2="{legend_y + 2:.1f}"/>'
        f'<text class="tick" x="306" y="{legend_y:.1f}">SLO budget (ms{", log scale" if log else ""})</text>'
    )
    return _svg(legend_y + 8, "Latency per batch size: percentiles with confidence bounds against the SLO", body)


_RATIO = re.compile(r"^(\w+)_ratio$")


def ratio_chart(measured: dict[str, Any], evidence: dict[str, Any] | None = None) -> str | None:
    """Candidate/baseline latency ratios per batch size with their bounds, against 1 + tolerance."""
    groups = []
    for batch, entry in _batches(measured):
        rows = []
        for key, value in entry.items():
            m = _RATIO.match(str(key))
            if m and is_number(value):
                lo, hi = entry.get(f"{key}_lower"), entry.get(f"{key}_upper")
                rows.append((m.group(1), float(value), lo if is_number(lo) else None, hi if is_number(hi) else None))
        if rows:
            groups.append((batch, rows))
    if not groups:
        return None
    tolerance = measured.get("tolerance")
    limit = 1.0 + float(tolerance) if is_number(tolerance) else None
    values = [v for _, rows in groups for r in rows for v in r[1:] if v is not None]
    values += [1.0] + ([limit] if limit is not None else [])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or 0.1
    scale = _Scale(max(lo - pad, 0.0), hi + pad, LABEL_W, WIDTH - RIGHT_PAD)
    body: list[str] = []
    y = 8.0 + 24
    top = y
    for batch, rows in groups:
        body.append(f'<text class="label strong" x="4" y="{y + 14:.1f}">batch size {batch}</text>')
        for i, (name, point, lower, upper) in enumerate(rows):
            cy = y + 22 + i * ROW_H
            over = limit is not None and (lower if lower is not None else point) > limit
            body.append(f'<text class="label" x="{LABEL_W - 8}" y="{cy + 4:.1f}" text-anchor="end">{_t(name)}</text>')
            if lower is not None and upper is not None:
                body.append(
                    f'<line class="bound" x1="{scale(lower):.1f}" y1="{cy:.1f}" x2="{scale(upper):.1f}" y2="{cy:.1f}"/>'
                )
            body.append(
                f'<circle class="point{" over" if over else " ok"}" cx="{scale(point):.1f}" cy="{cy:.1f}" r="4"/>'
            )
            text = f"\u00d7{fmt(point)}" + (f" [{fmt(lower)}, {fmt(upper)}]" if lower is not None else "")
            body.append(f'<text class="value" x="{WIDTH - RIGHT_PAD + 6}" y="{cy + 4:.1f}">{_t(text)}</text>')
        y += len(rows) * ROW_H + 22
        body.append(f'<line class="sep" x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}"/>')
    refs = [(1.0, "same speed", "same"), *([(limit, f"limit \u00d7{fmt(limit)}", "ref")] if limit else [])]
    for i, (value, label, cls) in enumerate(refs):
        x = scale(value)
        body.append(f'<line class="{cls}" x1="{x:.1f}" y1="{top - 10 + 12 * i:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>')
        body.append(
            f'<text class="tick" x="{x - 3:.1f}" y="{top - 12 + 12 * i:.1f}" text-anchor="end">{_t(label)}</text>'
        )
    body.extend(_axis(scale, y + 4, y - top))
    return _svg(y + 24, "Candidate latency relative to the baseline (ratio, with bounds)", body)


# --------------------------------------------------------------------------- bars


def _bars(
    title: str,
    rows: list[tuple[str, float, str, str]],
    refs: list[tuple[float, str]],
    *,
    unit_max: float | None = None,
    percent: bool = False,
) -> str:
    """Horizontal bars: rows of (label, value, css class, annotation); refs are labelled reference lines."""
    top = max([v for _, v, _, _ in rows] + [r for r, _ in refs] + [1e-12])
    hi = unit_max if unit_max is not None and top <= unit_max else top * 1.15
    scale = _Scale(0, hi, LABEL_W, WIDTH - RIGHT_PAD)
    body: list[str] = []
    y = 8.0 + 12 * len(refs)
    for label, value, cls, note in rows:
        x1 = scale(value)
        body.append(
            f'<text class="label" x="{LABEL_W - 8}" y="{y + 12:.1f}" text-anchor="end">{_t(_clip(label))}</text>'
        )
        body.append(
            f'<rect class="bar {cls}" x="{LABEL_W}" y="{y:.1f}" width="{max(x1 - LABEL_W, 1):.1f}" height="{BAR_H}"/>'
        )
        shown = f"{value:.1%}" if percent else fmt(value)
        body.append(f'<text class="value" x="{WIDTH - RIGHT_PAD + 6}" y="{y + 12:.1f}">{_t(shown + note)}</text>')
        y += ROW_H
    for i, (value, label) in enumerate(refs):
        x = scale(value)
        ty = 11 + 12 * i
        cls = "same" if label == "whole" else "ref"
        body.append(f'<line class="{cls}" x1="{x:.1f}" y1="{ty + 3}" x2="{x:.1f}" y2="{y:.1f}"/>')
        shown = f"{value:.1%}" if percent else fmt(value)
        body.append(f'<text class="tick" x="{x - 3:.1f}" y="{ty}" text-anchor="end">{_t(label)} {_t(shown)}</text>')
    body.extend(_axis(scale, y + 2, y - 8 - 12 * len(refs), percent))
    return _svg(y + 22, title, body)


def _clip(text: str, n: int = 23) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def flip_rate_chart(measured: dict[str, Any], evidence: dict[str, Any] | None = None) -> str | None:
    """Share of predictions flipped by small noise, against the allowed maximum."""
    rate = measured.get("flip_rate")
    if not is_number(rate):
        return None
    evidence = evidence or {}
    limit = next(
        (measured[k] for k in ("max_flip_rate", "threshold", "max_flip") if is_number(measured.get(k))),
        None,
    )
    rows = [("judged (worst)", float(rate), "over" if limit is not None and rate > limit else "ok", "")]
    for key, value in measured.items():
        if str(key).endswith("_flip_rate") and key != "max_flip_rate" and is_number(value):
            name = str(key)[: -len("_flip_rate")]
            rows.append((f"{name} noise", float(value), "over" if limit is not None and value > limit else "ok", ""))
    for source in (measured, evidence):
        for key, value in source.items():
            if "flip" in str(key) and isinstance(value, dict):
                numbers = [(str(k), float(v)) for k, v in value.items() if is_number(v)]
                for name, v in sorted(numbers, key=lambda kv: -kv[1])[:12]:
                    rows.append((name, v, "over" if limit is not None and v > limit else "ok", ""))
    refs = [(float(limit), "max")] if limit is not None else []
    return _bars("Prediction flip rate under small perturbations", rows, refs, percent=True)


def _slice_rows(data: Any, metric: str | None) -> tuple[list[dict[str, Any]], str | None]:
    rows: list[dict[str, Any]] = []
    if isinstance(data, list):
        for row in data:
            if not isinstance(row, dict):
                continue
            col = row.get("column", row.get("feature", row.get("slice")))
            grp = row.get("group")
            label = row.get("label")
            if label is None:
                label = f"{col}={grp}" if col is not None and grp is not None else (grp if grp is not None else col)
            rows.append({"label": str(label), **row})
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
                for grp, entry in value.items():
                    rows.append({"label": f"{key}={grp}", **entry})
            elif isinstance(value, dict):
                rows.append({"label": str(key), **value})
            elif is_number(value):
                rows.append({"label": str(key), "value": value})
    if metric is None:
        skip = {"n", "size", "count", "rows", "judged", "passed", "ok", "gap", "support", "lower", "upper", "group"}
        names = {k for r in rows for k, v in r.items() if is_number(v) and k not in skip}
        names.discard("value")
        metric = sorted(names)[0] if len(names) == 1 else None
    out = []
    for r in rows:
        value = r.get("value", r.get(metric) if metric else None)
        if not is_number(value) and is_number(r.get("metric")):
            value = r["metric"]
        if is_number(value):
            n = next((r[k] for k in ("n", "size", "count", "rows", "support") if is_number(r.get(k))), None)
            out.append({"label": r["label"], "value": float(value), "n": n, "judged": r.get("judged", True), **r})
    return out, metric


def slice_chart(measured: dict[str, Any], evidence: dict[str, Any] | None = None) -> str | None:
    """The metric on each slice group, with the bar it must meet and the whole data's value."""
    evidence = evidence or {}
    data = next(
        (s[k] for s in (measured, evidence) for k in ("slices", "groups") if isinstance(s.get(k), (list, dict))),
        None,
    )
    if data is None:
        return None
    metric = next((s[k] for s in (measured, evidence) for k in ("metric",) if isinstance(s.get(k), str)), None)
    groups, metric = _slice_rows(data, metric)
    if not groups:
        return None
    bar = next(
        (
            float(s[k])
            for s in (measured, evidence)
            for k in ("min_metric", "threshold", "bar", "min")
            if is_number(s.get(k))
        ),
        None,
    )
    overall = measured.get("overall", evidence.get("overall"))
    if isinstance(overall, dict) and metric:
        overall = overall.get(metric)
    rows = []
    for g in groups[:40]:
        passed = g.get("passed", g.get("ok"))
        if passed is None and g.get("status") in ("ok", "pass", "fail"):
            passed = g["status"] != "fail"
        if g["judged"] is False:
            cls, note = "muted", " (too small, not judged)"
        elif passed is False or (passed is None and bar is not None and g["value"] < bar):
            cls, note = "over", " below bar"
        else:
            cls, note = "ok", ""
        label = g["label"] + (f" (n={g['n']})" if g["n"] is not None else "")
        rows.append((label, g["value"], cls, note))
    refs = [(bar, "bar")] if bar is not None else []
    if is_number(overall):
        refs.append((float(overall), "whole"))
        gap = measured.get("max_gap")
        if is_number(gap) and gap > 0:
            lower_is_better = (metric or "") in LOWER_IS_BETTER
            refs.append(
                (
                    float(overall) + (gap if lower_is_better else -gap),
                    "whole \u2212 gap" if not lower_is_better else "whole + gap",
                )
            )
    unit = 1.0 if all(0 <= v <= 1 for _, v, _, _ in rows) else None
    return _bars(f"{metric or 'metric'} per slice group", rows, refs, unit_max=unit)


def baseline_chart(measured: dict[str, Any], evidence: dict[str, Any] | None = None) -> str | None:
    """Baseline versus candidate, metric by metric."""
    evidence = evidence or {}
    pairs: list[tuple[str, float, float]] = []
    for source in (measured, evidence):
        base, cand = source.get("baseline"), source.get("candidate")
        if isinstance(base, dict) and isinstance(cand, dict):
            pairs = [(k, float(base[k]), float(cand[k])) for k in base if is_number(base[k]) and is_number(cand.get(k))]
        else:
            table = source["metrics"] if isinstance(source.get("metrics"), dict) else source
            for name, entry in table.items():
                if isinstance(entry, dict) and is_number(entry.get("baseline")) and is_number(entry.get("candidate")):
                    pairs.append((str(name), float(entry["baseline"]), float(entry["candidate"])))
        if pairs:
            break
    if not pairs:
        return None
    rows = []
    for name, b, c in pairs[:12]:
        rows.append((f"{name} baseline", b, "base", ""))
        delta = c - b
        sign = "+" if delta >= 0 else "\u2212"
        rows.append((f"{name} candidate", c, "cand", f" ({sign}{fmt(abs(delta))})"))
    unit = 1.0 if all(0 <= v <= 1 for _, v, _, _ in rows) else None
    return _bars("Baseline versus candidate", rows, [], unit_max=unit)


def charts_for(check_id: str, category: str, measured: dict[str, Any], evidence: dict[str, Any]) -> list[str]:
    """Every chart this check's evidence supports, in a fixed order."""
    out = []
    for fn in (latency_chart, ratio_chart, flip_rate_chart, slice_chart, baseline_chart):
        try:
            svg = fn(measured or {}, evidence or {})
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError):
            svg = None  # an odd shape never breaks the report: the tables below still show the numbers
        if svg:
            out.append(svg)
    return out
