"""The hub's page in real Chromium: cluster column, per-cluster counts and filter, stale rows."""

from __future__ import annotations

import os

import pytest

from runwatch.hub import Backoff, build_hub
from runwatch.server import BackgroundServer
from runwatch.testing.generator import generate_tree
from tests.test_browser import CHROMIUM, open_page, wait_js

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed (apt-get install chromium)"),
]


def test_hub_page_shows_clusters_filters_by_cluster_and_marks_an_unreachable_agent(tmp_path):
    pw = pytest.importorskip("playwright.sync_api")
    ta = generate_tree(str(tmp_path / "a"), n_runs=20, seed=1)
    tb = generate_tree(str(tmp_path / "b"), n_runs=15, seed=2)
    a = BackgroundServer(ta.root, name="alpha", sweep_interval=3600).start()
    b = BackgroundServer(tb.root, name="beta", sweep_interval=3600).start()
    try:
        with BackgroundServer([f"alpha={a.url}", f"beta={b.url}"], builder=build_hub, backoff=Backoff(0.1, 0.5)) as hub, pw.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page, errors = open_page(browser, hub.url)
            total = len(ta.runs) + len(tb.runs)
            wait_js(page, "(n) => window.runwatch.runs.size === n", total)
            page.wait_for_selector("#clusters .cluster[data-cluster=beta]")
            assert page.locator("#thead .c-cluster").count() == 1
            assert page.locator(".row.run .c-cluster").first.inner_text() in ("alpha", "beta")
            n_beta = page.evaluate("[...window.runwatch.runs.values()].filter(r => r.cluster === 'beta').length")
            assert page.locator("#clusters .cluster[data-cluster=beta] .n").inner_text().strip() == str(n_beta)
            page.click("#clusters .cluster[data-cluster=beta]")
            wait_js(page, "() => [...document.querySelectorAll('.row.run .c-cluster')].every(e => e.textContent === 'beta')")
            assert page.locator("#shown").inner_text().startswith(f"{n_beta} of {total}")
            b.stop()
            page.wait_for_selector("#clusters .cluster.down[data-cluster=beta]")
            wait_js(page, "() => document.querySelectorAll('.row.run.stale').length > 0")
            assert page.locator(".row.run:not(.stale)").count() == 0  # only beta's rows are shown, all stale
            rid = page.get_attribute(".row.run", "data-id")
            page.goto(hub.base + "#run=" + rid)
            page.wait_for_selector("#detail:not([hidden])")
            # An agent's own page is unchanged: no cluster bar, no cluster column.
            page.goto(a.url)
            wait_js(page, "() => window.runwatch.runs.size > 0")
            assert page.locator("#clusters").is_hidden() and page.locator(".c-cluster").count() == 0
            assert errors == []
            browser.close()
    finally:
        a.stop()
        b.stop()
