"""The fleet summary of a many-bundle run: an HTML index page, a Markdown summary and terminal lines.

Each renders the fleet summary (`fleet.json`, see `readiness.fleet.summary`) and nothing
else. The HTML index is one self-contained file (no network) that links every bundle's
own HTML scorecard; its table starts in verdict order (errors, blocked, released) and a
small inline script sorts it by any column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from .markdown import cell

ORDER = {"error": 0, "blocked": 1, "released": 2}
WORD = {"error": "ERROR", "blocked": "BLOCKED", "released": "RELEASED"}
MAX_REASON = 240


def _rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for b in summary.get("bundles", []):
        model = b.get("model") or {}
        label = " ".join(str(x) for x in (model.get("name"), model.get("version")) if x) or b.get("name", "")
        overall = (b.get("scores") or {}).get("overall")
        reasons = [str(r)[:MAX_REASON] for r in b.get("reasons") or []]
        if b.get("verdict") == "error" and b.get("error"):
            reasons = [str(b["error"])[:MAX_REASON]]
        rows.append(
            {
                "path": str(b.get("path", "")),
                "label": label,
                "verdict": b.get("verdict", "error"),
                "word": WORD.get(b.get("verdict", "error"), "ERROR"),
                "overall": overall,
                "overall_text": f"{overall * 100:.0f}%" if isinstance(overall, int | float) else "—",
                "blocking": list(b.get("blocking") or []),
                "reasons": reasons,
                "html": (b.get("reports") or {}).get("html"),
                "json": (b.get("reports") or {}).get("json"),
                "duration_s": b.get("duration_s"),
            }
        )
    rows.sort(key=lambda r: (ORDER.get(r["verdict"], 0), r["path"]))
    return rows


def _headline(summary: Mapping[str, Any]) -> str:
    t = summary.get("totals", {})
    worst = "BLOCKED" if summary.get("exit_code", 0) else "RELEASED"
    if t.get("error"):
        worst = "ERROR"
    return (
        f"{worst}: {t.get('bundles', 0)} bundles: {t.get('released', 0)} released, "
        f"{t.get('blocked', 0)} blocked, {t.get('error', 0)} could not be checked"
    )


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>readiness fleet: {{ headline }}</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 1rem; color: #1b1f24; }
h1 { font-size: 1.3rem; } table { border-collapse: collapse; width: 100%; table-layout: fixed; }
td { overflow-wrap: anywhere; } th:nth-child(1) { width: 7rem; } th:nth-child(3) { width: 6.5rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .4rem .5rem; text-align: left; vertical-align: top; }
th { cursor: pointer; background: #f6f8fa; user-select: none; } th::after { content: " \\2195"; color: #8c959f; }
.verdict { font-weight: 700; white-space: nowrap; } .released { color: #1a7f37; } .blocked { color: #cf222e; }
.error { color: #9a6700; } ul { margin: 0; padding-left: 1.1rem; } .muted { color: #57606a; }
@media (max-width: 640px) {
  body { margin: .5rem; font-size: 14px; } td:nth-child(4), th:nth-child(4) { display: none; }
  th:nth-child(1) { width: 5.6rem; } th:nth-child(3) { width: 5rem; } th, td { padding: .35rem .3rem; }
}
</style></head><body>
<h1 id="headline" class="{{ 'released' if exit_code == 0 else 'blocked' }}">{{ headline }}</h1>
<p class="muted">{{ jobs }} job(s); wall {{ wall }} s for {{ total }} s of bundle time. Click a column to sort.</p>
<table id="fleet"><thead><tr>
<th data-key="verdict">Verdict</th><th data-key="model">Model</th><th data-key="score">Readiness</th>
<th data-key="path">Bundle</th><th data-key="reasons">Blocking reasons</th></tr></thead><tbody>
{% for r in rows %}<tr data-verdict="{{ order[r.verdict] }}" data-model="{{ r.label }}"
 data-score="{{ r.overall if r.overall is not none else -1 }}" data-path="{{ r.path }}" data-reasons="{{ r.reasons|length }}">
<td class="verdict {{ r.verdict }}">{{ r.word }}</td>
<td>{% if r.html %}<a href="{{ r.html }}">{{ r.label }}</a>{% else %}{{ r.label }}{% endif %}</td>
<td>{{ r.overall_text }}</td><td><code>{{ r.path }}</code></td>
<td>{% if r.reasons %}<ul>{% for reason in r.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>{% else %}<span class="muted">none</span>{% endif %}</td>
</tr>{% endfor %}
</tbody></table>
<script>
(function () {
  var table = document.getElementById("fleet"), body = table.tBodies[0], dir = {};
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key"), rows = Array.prototype.slice.call(body.rows);
      dir[key] = -(dir[key] || -1);
      rows.sort(function (a, b) {
        var x = a.getAttribute("data-" + key), y = b.getAttribute("data-" + key);
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return c * dir[key];
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
</script>
</body></html>
"""


def render_html(summary: Mapping[str, Any]) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    run = summary.get("run", {})
    return env.from_string(_TEMPLATE).render(
        headline=_headline(summary),
        rows=_rows(summary),
        order=ORDER,
        exit_code=summary.get("exit_code", 0),
        jobs=run.get("jobs", 1),
        wall=run.get("wall_s", "?"),
        total=run.get("sum_of_bundles_s", "?"),
    )


def render_markdown(summary: Mapping[str, Any], max_rows: int = 50) -> str:
    rows = _rows(summary)
    lines = [f"## {'✅' if summary.get('exit_code', 0) == 0 else '❌'} {cell(_headline(summary))}", ""]
    lines += ["| verdict | model | readiness | bundle | blocking |", "|---|---|---|---|---|"]
    for r in rows[:max_rows]:
        first = r["reasons"][0] if r["reasons"] else ""
        more = f" (+{len(r['reasons']) - 1} more)" if len(r["reasons"]) > 1 else ""
        lines.append(
            f"| {r['word']} | {cell(r['label'])} | {r['overall_text']} | `{cell(r['path'])}` | {cell(first)}{more} |"
        )
    if len(rows) > max_rows:
        lines.append(f"| … | {len(rows) - max_rows} more bundles in fleet.json | | | |")
    return "\n".join(lines) + "\n"


def render_lines(summary: Mapping[str, Any]) -> list[str]:
    """Terminal lines: one per bundle, then the fleet's headline last."""
    out = []
    for r in _rows(summary):
        first = f": {r['reasons'][0]}" if r["reasons"] else ""
        out.append(f"{r['word']:8s} {r['path']} ({r['label']}, readiness {r['overall_text']}){first}")
    out.append(_headline(summary))
    return out
