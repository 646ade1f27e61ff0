"""The HTML scorecard: self-contained, escaped, charts exactly when their evidence exists."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from importlib import resources

import jsonschema
import pytest
from report_cards import XSS, big_card, typical_card, with_hostile_strings

from readiness.reports import html
from readiness.reports._svg import baseline_chart, flip_rate_chart, latency_chart, ratio_chart, slice_chart
from readiness.scorecard import Scorecard


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text outside <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _charts(page: str) -> list[str]:
    return re.findall(r'<figure class="chart"><figcaption>([^<]*)</figcaption>', page)


def test_sample_cards_are_valid_scorecards():
    schema = json.loads(resources.files("readiness").joinpath("schemas/scorecard.schema.json").read_text())
    for card in (typical_card(), typical_card(released=True), typical_card(mlts=False), big_card(50)):
        jsonschema.validate(json.loads(card.to_json()), schema)


def test_the_page_is_self_contained_no_script_no_network():
    page = html.render(typical_card())
    tags = _parse(page).tags
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed", "link")]
    for tag, attrs in tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "action", "xlink:href") and value:
                assert value.startswith("#"), (tag, name, value)
    assert "url(" not in page and "@import" not in page
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)


def test_bundle_strings_are_escaped():
    page = html.render(with_hostile_strings(typical_card()))
    parsed = _parse(page)
    assert "script" not in [t for t, _ in parsed.tags]
    assert not [t for t, a in parsed.tags if t == "img" or any(k.startswith("on") for k in a)]
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    # the text a person reads still shows the hostile string literally
    assert XSS in "".join(parsed.text)


def test_verdict_reasons_model_scores_and_blockers_come_first():
    page = html.render(typical_card())
    head = page[: page.index('<section id="checks">')]
    for text in ("BLOCKED", "breast-cancer 1.0.0", "sha256 3b5d5c371295", "50%", "ML Test Score", "security"):
        assert text in head
    # each blocking finding with its remediation, before the details
    assert "SEC002" in head and "Fix: export the source model with skops" in head
    assert "ROB005" in head
    released = html.render(typical_card(released=True))
    assert "RELEASED" in released and "Blocking findings" not in released


def test_every_check_is_a_details_element_with_status_word_not_just_colour():
    card = typical_card()
    page = html.render(card)
    tags = _parse(page).tags
    details = [a.get("id") for t, a in tags if t == "details" and "check" in (a.get("class") or "")]
    assert details == [c.id for c in sorted(card.checks, key=lambda c: _cat_index(c.category))]
    for word in ("PASS", "FAIL", "ERROR", "SKIP", "WAIVED"):
        assert f"{word}</span>" in page


def _cat_index(category: str) -> int:
    order = ["artifact", "security", "schema", "reproducibility", "robustness", "latency", "quality", "operational"]
    return order.index(category)


def test_charts_appear_exactly_when_their_evidence_does():
    card = typical_card()
    captions = _charts(html.render(card))
    assert captions == [
        "Prediction flip rate under small perturbations",
        "roc_auc per slice group",
        "Latency per batch size: percentiles with confidence bounds against the SLO",
        "Candidate latency relative to the baseline (ratio, with bounds)",
        "Baseline versus candidate",
    ]
    bare = copy.deepcopy(card)
    for c in bare.checks:
        c.measured, c.evidence = {}, {}
    page = html.render(bare)
    assert _charts(page) == []
    assert "<svg" not in page


def test_latency_chart_marks_the_slo_and_the_bounds():
    measured = typical_card().check("LAT001").measured
    svg = latency_chart(measured)
    assert svg is not None
    assert svg.count('class="slo"') == 4  # p50 and p99 budgets at batch 1, p99 at batch 64 ... and the legend
    assert "batch size 1" in svg and "batch size 64" in svg
    assert "3.2 ms \u22644.1 \u00b7 SLO 50" in svg
    # a p99 whose upper bound exceeds the budget is drawn as over budget
    over = copy.deepcopy(measured)
    over["batch_64"]["budget"] = {"p99_ms": 3.0}
    assert 'class="point over"' in latency_chart(over)
    assert latency_chart({"throughput_rps": 100.0}) is None


def test_latency_chart_draws_the_distribution_when_samples_are_there():
    card = typical_card().check("LAT001")
    with_times = latency_chart(card.measured, card.evidence)  # raw_times as the latency checks encode them
    without = latency_chart(card.measured, {})
    assert 'class="hist"' in with_times and 'class="hist"' not in without
    samples = latency_chart(card.measured, {"batch_1": {"samples_ms": [0.04, 0.05, 0.05, 0.09]}})
    assert 'class="hist"' in samples
    # a corrupt or oversized blob is ignored, never trusted
    bad = {"raw_times": {"batch_1": {**card.evidence["raw_times"]["batch_1"], "count": 10**9}}}
    assert 'class="hist"' not in latency_chart(card.measured, bad)
    bad = {"raw_times": {"batch_1": {**card.evidence["raw_times"]["batch_1"], "data": "!!"}}}
    assert 'class="hist"' not in latency_chart(card.measured, bad)


def test_slice_chart_flags_the_failing_and_the_unjudged_groups():
    card = typical_card().check("ROB005")
    svg = slice_chart(card.measured, card.evidence)
    assert "age_band=70+ (n=88)" in svg and "below bar" in svg
    assert "too small, not judged" in svg
    assert svg.count('class="bar over"') == 1
    # a list of {column, group, n, metric, passed} rows and the nested {column: {group: {...}}} shape read the same
    rows = [{"column": "sex", "group": "F", "n": 30, "value": 0.95, "passed": True}]
    rows.append({"column": "sex", "group": "M", "n": 31, "value": 0.5, "passed": False})
    svg = slice_chart({"metric": "f1", "slices": rows})
    assert "sex=M (n=31)" in svg and svg.count('class="bar over"') == 1
    nested = {"sex": {"F": {"n": 10, "roc_auc": 0.95}, "M": {"n": 12, "roc_auc": 0.6}}}
    svg = slice_chart({"min_metric": 0.9, "slices": nested})
    assert "sex=M (n=12)" in svg and svg.count('class="bar over"') == 1


def test_latency_ratio_chart_against_the_tolerance():
    lat = typical_card().check("LAT005")
    svg = ratio_chart(lat.measured)
    assert "median" in svg and "p95" in svg and "limit \u00d71.1" in svg and 'class="point over"' not in svg
    slower = copy.deepcopy(lat.measured)
    slower["batch_1"].update(median_ratio=1.4, median_ratio_lower=1.3, median_ratio_upper=1.5)
    assert ratio_chart(slower).count('class="point over"') == 1
    assert ratio_chart(typical_card().check("LAT001").measured) is None


def test_flip_rate_and_baseline_charts():
    rob = typical_card().check("ROB002")
    svg = flip_rate_chart(rob.measured, rob.evidence)
    assert "additive noise" in svg and "multiplicative noise" in svg and "max 5.0%" in svg
    assert svg.count('class="bar ok"') == 3 and 'class="bar over"' not in svg
    per_feature = flip_rate_chart(
        {"flip_rate": 0.03, "max_flip_rate": 0.05}, {"flip_rate_by_feature": {"mean_radius": 0.06}}
    )
    assert "mean_radius" in per_feature and per_feature.count('class="bar over"') == 1
    assert 'class="bar over"' in flip_rate_chart({"flip_rate": 0.2, "max_flip_rate": 0.05})
    qlt = typical_card().check("QLT002")
    svg = baseline_chart(qlt.measured)
    assert "roc_auc candidate" in svg and "(+0.004)" in svg and "(\u22120.002)" in svg
    alt = baseline_chart({"metrics": {"rmse": {"baseline": 3.0, "candidate": 3.5}}})
    assert "rmse baseline" in alt
    flat = baseline_chart({"baseline": {"r2": 0.8}, "candidate": {"r2": 0.7}})
    assert "r2 candidate" in flat and "(\u22120.1)" in flat
    assert flip_rate_chart({}) is None and baseline_chart({"baseline": 1}) is None


def test_odd_evidence_shapes_never_break_the_page():
    card = typical_card()
    card.check("LAT001").measured = {"batch_1": {"p99_ms": "fast", "budget": "none"}}
    card.check("ROB005").evidence = {"slices": [1, "x", {"group": None}]}
    card.check("QLT002").measured = {"baseline": {"roc_auc": None}, "candidate": []}
    page = html.render(card)
    assert "BLOCKED" in page


def test_waivers_expiring_within_14_days_are_highlighted():
    page = html.render(typical_card())
    rows = re.findall(r'<tr class="(soon)?"><td><a href="#(\w+)">', page)
    assert ("soon", "LAT002") in rows and ("", "ART003") in rows
    assert "expires in 8 days" in page
    assert "waived by platform@example.com until 2026-12-05" in page


def test_a_missing_ml_test_score_renders_gracefully():
    page = html.render(typical_card(mlts=False))
    assert "not computed in this run" in page
    card = typical_card()
    del card.scores["mlts"]
    assert "not computed in this run" in html.render(card)


def test_the_saved_json_renders_the_same_bytes():
    card = typical_card()
    again = Scorecard.from_dict(json.loads(card.to_json()))
    assert html.render(card) == html.render(again)


@pytest.mark.parametrize("n", [500])
def test_a_large_scorecard_stays_readable(n):
    page = html.render(big_card(n))
    assert page.count('<details class="check') == n
    assert len(page) < 3_000_000


def test_encoded_timings_and_long_strings_are_summarised_in_the_page():
    card = typical_card()
    blob = card.check("LAT001").evidence["raw_times"]["batch_1"]["data"]
    card.check("OPS003").evidence["traceback"] = "x" * 5000
    page = html.render(card)
    assert blob not in page and "602 timings; in the JSON scorecard" in page
    assert "x" * 1500 in page and "x" * 1501 not in page and "5000 characters in the JSON scorecard" in page


def test_ml_test_score_band_and_per_test_table():
    page = html.render(typical_card())
    head = page[: page.index('<section id="checks">')]
    assert "serious holes in reliability" in head  # the band, in the first screen
    table = page[page.index('<section id="mlts">') :]
    assert "1 of the 28 ML Test Score tests" in table
    assert "Infra 1 Training is reproducible</td><td>automated</td>" in table and "RPR001 (PASS)" in table
    assert "not covered; attested: note &lt;b&gt;PR #123&lt;/b&gt;, date 2026-11-20" in table
    # without a band in the scorecard, the paper's band is derived from the score
    card = typical_card()
    del card.scores["mlts"]["band"]
    card.scores["mlts"]["score"] = 2.5
    assert "Reasonably tested" in html.render(card)


def test_the_verdict_banner_stays_short_when_many_checks_block():
    card = typical_card()
    card.gate["reasons"] = [f"CHK{i:03d} (major) could not run: " + "long detail " * 30 for i in range(10)]
    page = html.render(card)
    banner = page[page.index('id="verdict"') : page.index("</div>", page.index('id="verdict"'))]
    assert banner.count("<li>") == 4 and "and 7 more" in banner
    assert "CHK002" in banner and "CHK003" not in banner
    assert max(len(li) for li in re.findall(r"<li>(.*?)</li>", banner)) <= 141
