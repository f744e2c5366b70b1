"""The usage statistics page in a real Chromium: its server-drawn SVG charts render, styled by
the page's stylesheet, under the pages' strict Content-Security-Policy, with no violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_backoffice_pages import log_in
from tests.fixtures.live_evim import LiveEvim

pytestmark = pytest.mark.browser

RECORD = (
    "import datetime\n"
    "from evim.gateway.daily_usage import local_today, save_usage\n"
    "from evim.gateway.usage import DayUsage\n"
    "today = local_today()\n"
    "days = {}\n"
    "for back, (websocket, bosh, sent, received) in enumerate("
    "[(4, 1, 12, 15), (2, 0, 3, 5), (0, 0, 0, 0), (6, 2, 20, 18)]):\n"
    "    usage = DayUsage(messages_from_browsers=sent, messages_to_browsers=received)\n"
    "    usage.streams.update({'websocket': websocket, 'bosh': bosh})\n"
    "    days[today - datetime.timedelta(days=back)] = usage\n"
    "save_usage(days, today=today)\n"
)
FORGET = "from evim.gateway.models import DailyUsage\nDailyUsage.objects.all().delete()\n"
# Registered before any script of the page (Playwright's init scripts are not the page's,
# the policy does not apply to them): every violation the page causes is kept.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def figures(live_evim: LiveEvim) -> Iterator[None]:
    """A few days of figures in the session's evim, for this test only."""
    live_evim.evim("shell", "-c", RECORD)
    try:
        yield
    finally:
        live_evim.evim("shell", "-c", FORGET)


def test_the_charts_render_without_any_policy_violation(
    page: Page, live_evim: LiveEvim, figures: None
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.add_init_script(WATCH_VIOLATIONS)
    log_in(page, live_evim, "camille")

    page.locator('[data-menu-section="settings"] summary').click()
    page.locator('[data-menu="usage-statistics"]').click()
    page.wait_for_url(f"{live_evim.url}/service/statistics/")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(3)
    for index in range(3):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80, box

    # The bars are drawn, tall as their values, and coloured by the page's stylesheet.
    bars = page.locator("#chart-messages rect.chart-bar")
    expect(bars).to_have_count(6)  # three days with messages, sent and received
    heights = [bars.nth(index).bounding_box() for index in range(6)]
    assert all(box is not None and box["height"] > 0 for box in heights)
    tallest = page.locator('#chart-messages rect[data-value="20"]').bounding_box()
    smaller = page.locator('#chart-messages rect[data-value="3"]').bounding_box()
    assert tallest is not None and smaller is not None
    assert tallest["height"] == pytest.approx(smaller["height"] * 20 / 3, rel=0.02)
    fill = page.locator("#chart-streams rect.series-bosh").first.evaluate(
        "bar => getComputedStyle(bar).fill"
    )
    assert fill == "rgb(224, 138, 30)"

    # The same figures as a table, behind its summary (opened from the keyboard: the chat
    # bar's open room may lie over it, as over any page's bottom right).
    page.locator('[data-chart="messages"] summary').focus()
    page.keyboard.press("Enter")
    expect(page.locator('table[data-table="messages"] tfoot td').first).to_have_text("35")

    page.locator('[data-period="7"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_evim.url}/service/statistics/?days=7")
    expect(page.locator('table[data-table="streams"] tbody tr')).to_have_count(7)

    assert page.evaluate("window.__violations") == []
    assert not [line for line in console if "Content Security Policy" in line], console
