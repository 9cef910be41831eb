"""The dashboard's SVG bar chart: exact bars, axis, labels and legend for known data."""

import re
from datetime import date, timedelta

import pytest

from connector.dashboard.charts import Series, bar_chart_svg, nice_ceiling, table_rows

RECT = re.compile(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="(#\w+)"><title>(.*?)</title>')
TEXT = re.compile(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)"[^>]*>(.*?)</text>')

DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]


def _chart(series, days=DAYS, **kwargs):
    return str(bar_chart_svg(chart_id="c", title=kwargs.get("title", "Messages per day"),
                             desc=kwargs.get("desc", "Nov 1 to Nov 3"), days=days, series=series))


def test_stacked_bars_scale_to_a_readable_axis_top():
    # Given two series over three days, the busiest day totalling 2
    svg = _chart([Series("Posted", [1, 0, 2], "#111111"), Series("Failed", [1, 0, 0], "#222222")])

    # Then each non-zero value is one bar segment, stacked, scaled to an axis top of 2 (150 units tall)
    assert RECT.findall(svg) == [
        ("58", "85", "102.7", "75", "#111111", "Nov 1: 1 posted"),
        ("58", "10", "102.7", "75", "#222222", "Nov 1: 1 failed"),
        ("351.3", "10", "102.7", "150", "#111111", "Nov 3: 2 posted"),
    ]
    # And the y-axis reads 0, 1, 2; the last day is labelled (ending at its bar, inside the drawing)
    labels = TEXT.findall(svg)
    assert [t[3] for t in labels if t[2] == "end" and t[0] == "30"] == ["0", "1", "2"]
    assert ("454", "180", "end", "Nov 3") in labels
    assert "Nov 1</text>" not in svg  # only every 7th day counted back from the last carries a date


def test_legend_gives_each_series_total_and_the_drawing_grows_to_fit_it():
    svg = _chart([Series("Posted", [1, 0, 2], "#111111"), Series("Failed", [1, 0, 0], "#222222")])
    assert '<text x="53" y="206" font-size="15" fill="#1d2430">Posted (3)</text>' in svg
    assert '<text x="166" y="206" font-size="15" fill="#1d2430">Failed (1)</text>' in svg
    assert 'viewBox="0 0 480 214"' in svg

    long_names = [Series(f"A rather long series name {n}", [1, 1, 1], "#333333") for n in range(3)]
    assert 'viewBox="0 0 480 258"' in _chart(long_names)  # three legend lines instead of one


def test_dates_every_seventh_day_counted_back_from_today():
    days = [date(2026, 10, 28) + timedelta(days=n) for n in range(30)]
    svg = _chart([Series("Events", [0] * 30, "#1f6feb")], days=days)
    dates = [t[3] for t in TEXT.findall(svg) if t[1] == "180"]
    assert dates == ["Oct 29", "Nov 5", "Nov 12", "Nov 19", "Nov 26"]


def test_chart_is_accessible_and_escapes_text():
    svg = _chart([Series("<b>Posted</b>", [1, 2, 3], "#111111")], title="Tom & Jerry's <chart>",
                 desc="3 days")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 480 214" class="chart" role="img" '
                          'aria-labelledby="c-title c-desc">')
    assert '<title id="c-title">Tom &amp; Jerry&#x27;s &lt;chart&gt;</title>' in svg
    assert '<desc id="c-desc">3 days</desc>' in svg
    assert "<b>" not in svg


def test_no_data_still_draws_an_axis_from_0_to_1():
    svg = _chart([Series("Events", [0, 0, 0], "#111111")])
    assert RECT.findall(svg) == []
    assert [t[3] for t in TEXT.findall(svg) if t[0] == "30"] == ["0", "1"]


def test_a_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="2 values for 3 days"):
        _chart([Series("Events", [1, 2], "#111111")])


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20),
                                             (49, 50), (51, 100), (120, 200), (999, 1000)])
def test_nice_ceiling(value, top):
    assert nice_ceiling(value) == top


def test_table_rows_newest_first():
    rows = table_rows(days=DAYS, series=[Series("A", [1, 0, 2], "#1"), Series("B", [4, 5, 6], "#2")])
    assert rows == [("Nov 3", [2, 6]), ("Nov 2", [0, 5]), ("Nov 1", [1, 4])]
