"""The dashboard page in real Chromium: live updates without reload, filters, detail view, no HTML injection."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from runwatch.process_info import ProcessSnapshot
from runwatch.server import BackgroundServer
from tests.test_live import add_epoch, first

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed (apt-get install chromium)"),
]
XSS_NAME = "<img src=x onerror=window.__xss=1>"


def wait_js(page, expr: str, arg=None, timeout: float = 15.0) -> None:
    """Poll a JS predicate through CDP (page.wait_for_function uses eval, which the page's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while True:
        if page.evaluate(expr, arg):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expr} ({arg})")
        time.sleep(0.05)


def search(page, q: str) -> None:
    """Type ``q`` in the search box and wait until the list shows it: the search applies after a short
    debounce and the pooled rows are refilled on the next frame, so a click before then can land on a row that
    is about to move."""
    page.fill("#search", q)
    wait_js(page, "(q) => window.runwatch.q === q.toLowerCase() && !window.runwatch.viewDirty", q)
    page.wait_for_timeout(50)


def open_page(browser, url: str, size: tuple[int, int] = (1500, 950), console: bool = True):
    """(a new page at ``url``, the errors it reports): uncaught exceptions and, with ``console``, console
    errors, where CSP violations (e.g. an inline style attribute) and failed loads show up."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if console:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    return page, errors


@pytest.fixture
def page_on_tree(tree):
    pw = pytest.importorskip("playwright.sync_api")
    # A run whose name is markup: it must show up as text, never as an element.
    src = os.path.join(tree.root, "configs", first(tree, "finished").rel + ".py")
    shutil.copy(src, os.path.join(tree.root, "configs", "trainers", XSS_NAME + ".py"))
    with BackgroundServer(tree.root, sweep_interval=3600, monitor=ProcessSnapshot(processes=list(tree.processes))) as srv, pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page, errors = open_page(browser, srv.url)
        page.wait_for_selector("#conn.conn-live")
        # Every run (the tree's and the markup-named one) in the page before a test looks for one.
        wait_js(page, "(n) => window.runwatch.runs.size === n", len(tree.runs) + 1)
        yield tree, srv, page, errors
        browser.close()


def test_page_loads_every_run_and_escapes_names(page_on_tree):
    tree, _, page, errors = page_on_tree
    assert page.evaluate("window.runwatch.runs.size") == len(tree.runs) + 1
    assert page.locator("#counts [data-status=failed] .n").inner_text() == str(
        sum(1 for r in tree.runs if r.status == "failed") + 1
    )  # + the never-launched markup run
    page.fill("#search", "onerror")
    wait_js(page, "() => document.querySelectorAll('.row.run').length === 1")
    row = page.locator(".row.run").first
    assert XSS_NAME in row.get_attribute("data-run") and XSS_NAME in row.inner_text()
    assert page.evaluate("window.__xss") is None and page.locator("#rows img").count() == 0
    row.click()
    page.wait_for_selector("#d-body .facts")
    assert page.locator("#d-title").inner_text() == "trainers/" + XSS_NAME
    assert page.evaluate("window.__xss") is None and page.locator("#detail img").count() == 0
    assert errors == []


def test_filter_by_status_and_open_a_detail_view(page_on_tree):
    tree, _, page, errors = page_on_tree
    page.click("#counts [data-status=failed]")
    wait_js(page, "() => document.querySelectorAll('.row.run:not(.st-failed)').length === 0")
    shown = page.locator(".row.run")
    n_failed = sum(1 for r in tree.runs if r.status == "failed") + 1  # + the never-launched markup run
    assert shown.count() == n_failed  # the small tree fits the viewport
    assert page.locator("#shown").inner_text().startswith(f"{n_failed} of")
    page.click("#counts [data-status=failed]")  # clicking again clears the filter
    wait_js(page, f"() => document.querySelectorAll('.row.run').length > {n_failed}")
    exp = first(tree, "early_stopped")
    search(page, exp.rel)
    page.click(f".row.run[data-run='{exp.rel}']")
    page.wait_for_selector(f"svg.chart[data-metric='{exp.main_key}']")
    assert page.locator(f"svg.chart[data-metric='{exp.main_key}']").get_attribute("data-points") == str(exp.completed_epochs)
    assert page.locator("svg.chart .best").count() >= 1 and page.locator("svg.chart .es").count() >= 1
    assert page.locator(".timeline .tl.done").count() >= exp.completed_epochs
    assert "Log tail" in page.locator("#d-body").inner_text()
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()
    assert page.locator("#empty").is_hidden()
    page.fill("#search", "no run is called like this")
    page.wait_for_selector("#empty:not([hidden])")
    assert "No run matches" in page.locator("#empty").inner_text()
    assert errors == []


def test_a_row_element_stays_its_runs_while_the_list_moves(page_on_tree):
    """A row element is one run's for as long as it is in the page: a click on it (a person's, pressed just
    before a sort, a filter or a delta moved the list; or a test's, on the row its locator found) opens
    that run, never the run that took its place."""
    _, _, page, errors = page_on_tree
    handles = {h.get_attribute("data-run"): h for h in page.query_selector_all(".row.run")}
    assert len(handles) > 3
    page.click("#thead [data-sort=progress]")  # every row moves
    page.click("#counts [data-status=failed]")  # most leave
    page.click("#group")  # the folder rows go
    page.click("#counts .count.all")
    kept = 0
    for run, h in handles.items():
        if h.evaluate("e => e.isConnected"):
            assert h.get_attribute("data-run") == run
            kept += 1
    assert kept > 0
    run, h = next((run, h) for run, h in handles.items() if h.evaluate("e => e.isConnected"))
    h.evaluate("e => e.click()")
    page.wait_for_selector("#d-body .facts")
    assert page.locator("#d-title").inner_text() == run
    assert errors == []


def test_a_chip_or_sort_shows_its_result_when_its_click_is_over(page_on_tree):
    """A person's action is drawn in its own event, with what the search box holds then (not after the
    search's pause, nor a frame later): the rows and counts a moment after the click are the newest filter's."""
    tree, _, page, errors = page_on_tree
    n_failed = sum(1 for r in tree.runs if r.status == "failed") + 1  # + the never-launched markup run
    got = page.evaluate(
        """() => {
        const s = document.getElementById('search');
        s.value = 'no run is called like this'; s.dispatchEvent(new Event('input'));
        s.value = ''; s.dispatchEvent(new Event('input'));  // typed, then cleared: no search
        document.querySelector('#counts [data-status=failed]').click();
        const rows = [...document.querySelectorAll('.row.run')];
        return [rows.length, rows.every(e => e.classList.contains('st-failed')), document.getElementById('shown').textContent,
                document.querySelector('#counts [data-status=failed]').getAttribute('aria-pressed')];
    }"""
    )
    assert got == [n_failed, True, got[2], "true"] and got[2].startswith(f"{n_failed} of"), got
    got = page.evaluate(
        """() => {
        const s = document.getElementById('search');
        s.value = 'no run is called like this'; s.dispatchEvent(new Event('input'));
        document.querySelector('#thead [data-sort=best]').click();
        return [document.querySelectorAll('.row.run').length, document.getElementById('empty').hidden, window.runwatch.sortKey];
    }"""
    )
    assert got == [0, False, "best"], got
    assert errors == []


def test_a_new_epoch_on_disk_updates_row_and_chart_without_reload(page_on_tree):
    tree, _, page, errors = page_on_tree
    exp = first(tree, "running")
    page.evaluate("window.__sameDocument = true")
    search(page, exp.rel)
    row = page.locator(f".row.run[data-run='{exp.rel}']")
    row.wait_for()
    before = exp.completed_epochs
    assert row.locator(".ptext").inner_text().startswith(f"{before}/")
    row.click()
    chart = page.locator(f"svg.chart[data-metric='{exp.main_key}']")
    chart.wait_for()
    assert chart.get_attribute("data-points") == str(before)
    for _ in range(2):
        done = add_epoch(tree, exp.rel)
        wait_js(
            page,
            "([run, n]) => { const r = document.querySelector(`.row.run[data-run='${run}'] .ptext`); return !!r && r.textContent.startsWith(n + '/'); }",
            [exp.rel, done],
        )
        page.wait_for_selector(f"svg.chart[data-metric='{exp.main_key}'][data-points='{done}']", timeout=15000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert errors == []


def test_reconnects_and_resyncs_after_the_server_restarts(tree):
    pw = pytest.importorskip("playwright.sync_api")
    srv = BackgroundServer(tree.root, sweep_interval=3600).start()
    port = int(srv.base.rsplit(":", 1)[1].strip("/"))
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.goto(srv.url)
        page.wait_for_selector("#conn.conn-live")
        srv.stop()
        page.wait_for_selector("#conn.conn-down", timeout=15000)
        exp = first(tree, "running")
        done = add_epoch(tree, exp.rel)  # changes made while the page was disconnected
        srv2 = BackgroundServer(tree.root, port=port, sweep_interval=3600).start()
        try:
            page.wait_for_selector("#conn.conn-live", timeout=30000)
            wait_js(page, "([run, n]) => [...window.runwatch.runs.values()].some(r => r.run === run && r.completed_epochs === n)", [exp.rel, done])
        finally:
            browser.close()
            srv2.stop()


def test_ten_thousand_runs_render_virtualised_and_take_deltas_in_place(page_on_tree, capsys):
    _, _, page, errors = page_on_tree
    page.click("#d-close") if page.locator("#detail").is_visible() else None
    # A 10,000-run snapshot fed through the page's own message handler (generating and
    # scanning such a tree takes minutes; the client-side cost is what is measured here).
    took = page.evaluate(
        """() => {
        const base = [...window.runwatch.runs.values()][0];
        const runs = [];
        for (let i = 0; i < 10000; i++) runs.push({...base, id: 'r' + i, run: 'lab/group_' + (i % 50) + '/run_' + i,
            status: ['running','failed','finished','outdated'][i % 4], progress_percentage: i % 100, completed_epochs: i % 20, total_epochs: 20});
        const seq = window.runwatch.seq + 1000;
        const t0 = performance.now();
        window.runwatchFeed({type: 'snapshot', seq, runs, summary: window.runwatch.summary});
        return new Promise(res => requestAnimationFrame(() => res({snapshot_ms: performance.now() - t0, seq})));
    }"""
    )
    rows = page.locator("#rows .row").count()
    assert page.evaluate("window.runwatch.runs.size") == 10000
    assert 0 < rows < 100  # only what the viewport shows is in the DOM
    per_delta = page.evaluate(
        """async (seq) => {
        const t0 = performance.now();
        for (let k = 1; k <= 100; k++) {
            const r = {...window.runwatch.runs.get('r' + k), completed_epochs: 19, progress_percentage: 95};
            window.runwatchFeed({type: 'delta', seq: seq + k, added: [], changed: [r], removed: [], summary: window.runwatch.summary});
            await new Promise(res => requestAnimationFrame(res));
        }
        return (performance.now() - t0) / 100;
    }""",
        took["seq"],
    )
    assert page.evaluate("window.runwatch.runs.get('r7').completed_epochs") == 19
    page.locator("#viewport").evaluate("el => el.scrollTop = 150000")
    page.wait_for_timeout(100)
    assert 0 < page.locator("#rows .row").count() < 100
    with capsys.disabled():
        print(f"\n10,000 runs: snapshot to first frame {took['snapshot_ms']:.0f} ms; {per_delta:.1f} ms per delta incl. frame; {rows} DOM rows")
    assert per_delta < 200
    assert errors == []


def test_page_works_behind_a_token(tree):
    pw = pytest.importorskip("playwright.sync_api")
    with BackgroundServer(tree.root, sweep_interval=3600, token="tok-123-long-enough") as srv, pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        resp = page.goto(srv.base)
        assert resp.status == 401
        page.goto(srv.url)  # ?token= sets the cookie that the assets, the API and the WebSocket then use
        page.wait_for_selector("#conn.conn-live")
        wait_js(page, f"() => window.runwatch.runs.size === {len(tree.runs)}")
        page.locator(".row.run").first.click()
        page.wait_for_selector("#d-body .facts")
        browser.close()


# ---------------------------------------------------------------- the page explains itself (issue 17)

SHOTS = os.environ.get("RUNWATCH_SCREENSHOT_DIR")  # set to docs/ to refresh the committed screenshots
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Every text of every chart inside its SVG's viewBox (getBBox is in the SVG's user units).
TEXTS_OUTSIDE = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.chart')) {
    const vb = svg.viewBox.baseVal;
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.width === 0) continue;
      if (b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 || b.y + b.height > vb.y + vb.height + 0.5)
        out.push(svg.dataset.metric + ': "' + t.textContent + '" ' + [b.x, b.y, b.width, b.height].map(Math.round).join(','));
    }
  }
  return out;
}"""


def _open_run(page, rel: str) -> None:
    search(page, rel)
    page.click(f".row.run[data-run='{rel}']")
    page.wait_for_selector("#d-body .facts")


@pytest.fixture
def served(tree):
    pw = pytest.importorskip("playwright.sync_api")
    with BackgroundServer(tree.root, sweep_interval=3600, monitor=ProcessSnapshot(processes=list(tree.processes))) as srv, pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield tree, srv, browser
        browser.close()


@pytest.mark.parametrize("size", [(800, 600), (1280, 800), (1920, 1080)])
def test_charts_keep_their_labels_inside_and_scores_name_their_metric(served, size, tmp_path):
    tree, srv, browser = served
    page, errors = open_page(browser, srv.url, size)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0")
    # Every score cell names its metric and direction, as the CLI's metric column does.
    cells = page.evaluate("""() => [...document.querySelectorAll('.row.run')].map(r => {
        const rec = window.runwatch.runs.get(r.dataset.id);
        const c = r.querySelector('.c-best');
        return [rec.main_metric, rec.main_direction, rec.main_best, c.querySelector('.metric') ? c.querySelector('.metric').textContent : null, c.querySelector('.num') ? c.querySelector('.num').textContent : null];
    })""")
    scored = [c for c in cells if c[2] is not None]
    assert scored
    for metric, direction, best, shown_metric, shown_num in scored:
        assert shown_metric == metric + {1: " ↑", -1: " ↓"}.get(direction, ""), (metric, shown_metric)
        assert float(shown_num) == pytest.approx(best, abs=1e-4)
    # The early-stopped run whose best epoch is last: the worst case for a label at the right edge.
    exp = first(tree, "early_stopped")
    _open_run(page, exp.rel)
    page.wait_for_selector(f"svg.chart[data-metric='{exp.main_key}']")
    page.wait_for_timeout(150)  # labels are fitted in the next frame
    assert page.evaluate(TEXTS_OUTSIDE) == []
    # One epoch convention: "early stop after epoch N" on the chart, "at epoch N" in the facts, N the CLI's @N.
    es = page.locator("svg.chart .es-label").first.text_content()
    assert es.endswith(f"epoch {exp.early_stopped_at_epoch}")
    assert f"at epoch {exp.early_stopped_at_epoch}" in page.locator("#d-body .facts").inner_text()
    rec = page.evaluate("(id) => window.runwatch.runs.get(id)", page.locator(".row.run.open").get_attribute("data-id"))
    heading = page.locator(".score-table h3").inner_text()
    assert heading == f"Best scores (epoch {rec['best_epoch'] + 1})"
    assert page.locator(".score-table th").all_inner_texts() == ["score", "value"]
    row_key = page.locator(".score-table td").first.inner_text()
    assert row_key and float(page.locator(".score-table td.num").first.inner_text()) == pytest.approx(rec["best_score"][row_key], abs=1e-4)
    # The key/value grid: no label or value broken inside a word.
    broken = page.evaluate("""() => [...document.querySelectorAll('.facts .kv .k, .facts .kv .v:not(.path):not(.dotted)')].filter(e => {
        const r = document.createRange(); r.selectNodeContents(e);
        const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
        return lines.size > 1 && !/\\s/.test(e.textContent.trim());
    }).map(e => e.textContent)""")
    assert broken == []
    # Dotted names and paths break only after a "." or "/" (at a <wbr>).
    assert page.evaluate(
        "() => [...document.querySelectorAll('.facts .v.dotted, .facts .v.path')].every(e => [...e.childNodes].every((n, i, a) => n.nodeName !== 'WBR' || /[./]$/.test(a[i - 1].textContent)))"
    )
    page.fill("#search", "")  # the whole table beside the open run
    page.wait_for_timeout(200)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # nothing off to the right
    name = f"dashboard-{size[0]}x{size[1]}.png"
    page.screenshot(path=os.path.join(SHOTS or str(tmp_path), name))
    assert errors == []


def test_multi_stage_row_shows_its_stage_and_the_detail_its_stages(served):
    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(srv.url)
    wait_js(page, "() => window.runwatch.runs.size > 0")
    ms = next(r for r in tree.runs if r.kind == "multi_stage")
    search(page, ms.rel)
    row = page.locator(f".row.run[data-run='{ms.rel}']")
    row.wait_for()
    rec = page.evaluate("(id) => window.runwatch.runs.get(id)", row.get_attribute("data-id"))
    assert row.locator(".kind").inner_text() == f"stage {rec['current_stage'] + 1}/{len(rec['stages'])}"
    row.click()
    page.wait_for_selector(".stage-table")
    assert page.locator(".stage-table tbody tr").count() == len(rec["stages"])
    assert "(now)" in page.locator(".stage-table tr.current").inner_text()


def test_keyboard_opens_a_run_and_the_url_restores_filters_search_and_sort(served):
    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(srv.url)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0")
    page.locator("#viewport").focus()
    page.keyboard.press("ArrowDown")  # the first row: a folder
    page.keyboard.press("ArrowDown")  # the first run in it
    cur = page.locator(".row.run.cursor")
    cur.wait_for()
    rel = cur.get_attribute("data-run")
    page.keyboard.press("Enter")
    page.wait_for_selector("#d-body .facts")
    assert page.locator("#d-title").inner_text() == rel
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()
    # Filter, search and sort; the URL carries them; a fresh page with that URL shows the same.
    page.click("#counts [data-status=failed]")
    page.fill("#search", "trainers")
    page.click("#thead [data-sort=best]")
    wait_js(page, "() => location.hash.includes('status=failed') && location.hash.includes('q=trainers') && location.hash.includes('sort=best')")
    shown = page.locator(".row.run").evaluate_all("els => els.map(e => e.dataset.run)")
    url = page.url
    other = browser.new_page(viewport={"width": 1280, "height": 800})
    other.goto(url)
    wait_js(other, "() => window.runwatch.runs.size > 0 && document.querySelectorAll('.row.run').length > 0")
    assert other.input_value("#search") == "trainers"
    assert other.locator("#counts [data-status=failed]").get_attribute("aria-pressed") == "true"
    assert other.locator("#thead [data-sort=best]").get_attribute("aria-sort") == "ascending"
    assert other.locator(".row.run").evaluate_all("els => els.map(e => e.dataset.run)") == shown
    # "Better first" per direction: within one metric, best values are in order of goodness.
    vals = other.evaluate("""() => [...document.querySelectorAll('.row.run')].map(r => window.runwatch.runs.get(r.dataset.id))
        .filter(r => r.main_best !== null).map(r => [r.run.split('/').slice(0, -1).join('/') + ' ' + r.main_metric, r.main_direction, r.main_best])""")
    for metric in {v[0] for v in vals}:  # runs are grouped by folder: in order within each
        seq = [v[2] * (-1 if v[1] > 0 else 1) for v in vals if v[0] == metric]
        assert seq == sorted(seq), metric
    # A run opened through the URL.
    rid = other.locator(".row.run").first.get_attribute("data-id")
    third = browser.new_page()
    third.goto(srv.url.split("#")[0] + "#run=" + rid)
    third.wait_for_selector("#d-body .facts")


def test_never_launched_runs_say_never_and_read_apart_from_crashes(served):
    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(srv.url)
    wait_js(page, "() => window.runwatch.runs.size > 0")
    never = first(tree, "never_launched")
    search(page, never.rel)
    row = page.locator(f".row.run[data-run='{never.rel}']")
    row.wait_for()
    assert row.locator(".c-updated").inner_text() == "never"
    assert row.locator(".reason").inner_text() == "not started"
    page.fill("#search", "")
    page.click("#reasons [data-reason=never_started]")
    wait_js(
        page,
        "() => document.querySelectorAll('.row.run').length > 0 && [...document.querySelectorAll('.row.run .reason')].every(e => e.textContent === 'not started')",
    )
    assert "reason=never_started" in page.url
    assert "run" in page.locator("#shown").inner_text()
    group = page.locator(".row.group .gcount").all_inner_texts()
    assert all(t.strip().endswith(("1 run", " runs")) and not t.strip().startswith("1 runs") for t in group)


def test_detail_head_moves_with_the_table_banner_and_retry_countdown(served):
    tree, srv, browser = served
    page, errors = open_page(browser, srv.url, console=False)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0")
    exp = first(tree, "running")
    _open_run(page, exp.rel)
    rid = page.locator(".row.run.open").get_attribute("data-id")
    # A delta for the open run: the detail's status line shows it in the same frame as the row, not a fetch later.
    page.evaluate(
        """(id) => {
        const r = {...window.runwatch.runs.get(id), completed_epochs: 999, total_epochs: 1000, progress_percentage: 99.9};
        window.runwatchFeed({type: 'delta', seq: window.runwatch.seq + 1, added: [], changed: [r], removed: [], summary: {...window.runwatch.summary, root_missing: true}});
    }""",
        rid,
    )
    assert page.locator("#d-progress").inner_text().startswith("999/1000 epochs")
    wait_js(page, "(id) => document.querySelector(`.row.run[data-id='${id}'] .ptext`).textContent.startsWith('999/1000')", rid)
    banner = page.locator("#banner")
    banner.wait_for()
    assert "project folder is gone" in banner.inner_text()
    # The server goes away: "retry in Ns" counts down.
    srv.stop()
    page.wait_for_selector("#conn.conn-down", timeout=15000)
    texts = set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and len(texts) < 2:
        t = page.locator("#conn").inner_text()
        if "retry in" in t:
            texts.add(t)
        time.sleep(0.2)
    assert len(texts) >= 2, texts  # the number changed while waiting


# ---------------------------------------------------------------- what a new user trips on (issue 28)

# Every piece of text in a row's cells (the run's name aside: it is shortened on purpose, with a title)
# inside its cell, and every status reason whole: nothing cut with an ellipsis at any of the three sizes.
CLIPPED = """() => {
  const out = [];
  const cut = (e) => e.scrollWidth > e.clientWidth + 1;
  for (const row of document.querySelectorAll('.row.run, .row.thead')) {
    const rb = row.getBoundingClientRect();
    if (rb.bottom < 0 || rb.top > window.innerHeight) continue;
    for (const cell of row.children) {
      if (cell.classList.contains('c-run') || getComputedStyle(cell).display === 'none') continue;
      const cb = cell.getBoundingClientRect();
      if (cut(cell)) out.push((row.dataset.run || 'header') + ' ' + cell.className + ': "' + cell.textContent + '" cut');
      for (const part of cell.querySelectorAll('span, .bar')) {
        const pb = part.getBoundingClientRect();
        if (pb.width === 0) continue;
        if (pb.right > cb.right + 0.5 || pb.left < cb.left - 0.5 || cut(part))
          out.push(row.dataset.run + ' ' + cell.className + ' ' + part.className + ': "' + part.textContent + '" outside its cell');
      }
    }
  }
  return out;
}"""

# The header's parts: which share a line with the connection badge ("live").
HEADER = """() => {
  const conn = document.getElementById('conn').getBoundingClientRect();
  const head = document.getElementById('summary');
  const parts = [...head.children].filter((e) => !e.contains(document.getElementById('conn')) && e.getBoundingClientRect().width > 0);
  const beside = parts.filter((e) => { const b = e.getBoundingClientRect(); return b.top < conn.bottom && b.bottom > conn.top; });
  const tops = new Set([...head.children].map((e) => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2)));
  return { beside: beside.length, lines: tops.size };
}"""


@pytest.mark.parametrize("size", [(800, 600), (1280, 800), (1920, 1080)])
def test_nothing_is_clipped_and_bars_keep_one_length(served, size):
    """Status reasons ("out of memory"), the Updated column and every other cell are whole at 800x600, 1280x800
    and 1920x1080; the "live" badge is never alone on a header line (one header bar from 1280 up); every
    progress bar has one length whatever its label."""
    tree, srv, browser = served
    page, errors = open_page(browser, srv.url + "#sort=status", size, console=False)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0 && document.querySelectorAll('.row.run').length > 0")
    page.wait_for_timeout(100)
    reasons = page.locator(".row.run .reason").all_inner_texts()
    assert any(t == "out of memory" for t in reasons), reasons  # the longest reason the tree has is on screen
    assert page.evaluate(CLIPPED) == []
    widths = page.evaluate("() => [...document.querySelectorAll('.row.run .c-progress .bar')].map(b => Math.round(b.getBoundingClientRect().width))")
    assert widths and max(widths) - min(widths) <= 1, widths
    header = page.evaluate(HEADER)
    assert header["beside"] >= 1, header
    if size[0] >= 1280:
        assert header["lines"] == 1, header
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == []


def test_open_run_that_leaves_the_filter_keeps_the_highlight_honest(served):
    """With "running" on, the open run crashes and leaves the list: no other row takes its highlight, and
    the panel, still showing it, says why it is no longer listed."""
    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(srv.url + "#status=running&group=0")
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => document.querySelectorAll('.row.run').length > 1")
    row = page.locator(".row.run").first
    rid = row.get_attribute("data-id")
    row.click()
    page.wait_for_selector("#d-body .facts")
    assert page.locator(".row.run.cursor").get_attribute("data-id") == rid
    page.evaluate(
        """(id) => {
        const r = {...window.runwatch.runs.get(id), status: 'failed', reason: 'crashed', in_progress: null};
        window.runwatchFeed({type: 'delta', seq: window.runwatch.seq + 1, added: [], changed: [r], removed: [], summary: window.runwatch.summary});
    }""",
        rid,
    )
    wait_js(page, "(id) => !document.querySelector(`.row.run[data-id='${id}']`)", rid)
    page.wait_for_timeout(100)
    assert page.locator(".row.run.cursor").count() == 0 and page.locator(".row.run.open").count() == 0
    assert page.evaluate("() => window.runwatch.cursor") == -1
    assert "now failed (crashed)" in page.locator("#d-offlist").inner_text()
    assert page.locator("#d-title").inner_text() == page.evaluate("(id) => window.runwatch.runs.get(id).run", rid)


def test_detail_says_the_error_once_and_a_dead_run_is_in_no_epoch(served):
    """The error text appears once in the panel's head (not again as the reason's words), the run's output is
    not repeated when it is the log shown below, and a dead run has no "in this epoch"."""
    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(srv.url)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0")
    recs = page.evaluate("() => [...window.runwatch.runs.values()]")
    assert all(r["in_progress"] is None for r in recs if r["status"] not in ("running", "stuck"))
    crashed = next(r for r in recs if r["status"] == "failed" and (r.get("error_message") or r.get("error_line")) and r.get("reason") == "oom")
    error = crashed.get("error_text") or crashed.get("error_message") or crashed.get("error_line")
    _open_run(page, crashed["run"])
    page.wait_for_selector("#d-body .error-box")
    head = page.locator("#d-head").inner_text()
    assert head.count(error) == 1, head
    assert "in this epoch" not in page.locator("#d-body .facts").inner_text()
    logs = page.locator("#d-body pre.log").all_inner_texts()
    assert len(logs) == len(set(logs)), logs


def test_never_started_runs_have_their_own_count_chip_and_colour(served):
    """Still "failed" for launchers, but apart wherever a person reads first: a "not started" count beside the
    failed one, "not started" chips in the folder rows, no ✗, and not the red of a crash."""
    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(srv.url)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0 && document.querySelectorAll('.row.run').length > 0")
    never = [r for r in tree.runs if r.scenario in ("never_launched", "evaluator_never_launched")]
    summary = page.evaluate("() => window.runwatch.summary")
    assert summary["not_started"] == len(never)
    chip = page.locator("#counts [data-count=not-started]")
    assert chip.inner_text().split() == [str(len(never)), "not", "started"]
    assert page.locator("#counts [data-status=failed] .n").inner_text() == str(summary["by_status"]["failed"])  # the status count is unchanged
    assert page.locator(".row.group .chip.not-started").count() >= 1
    search(page, never[0].rel)
    row = page.locator(f".row.run[data-run='{never[0].rel}']")
    row.wait_for()
    assert row.locator(".badge").inner_text() == "failed" and row.locator(".reason").inner_text() == "not started"
    assert row.locator(".c-warn .err").count() == 0
    colour = row.locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor")
    crash_colour = page.evaluate(
        "() => { const b = document.createElement('span'); b.className = 'badge st-failed'; document.body.appendChild(b); const c = getComputedStyle(b).backgroundColor; b.remove(); return c; }"
    )
    assert colour != crash_colour
    page.fill("#search", "")
    chip.click()
    wait_js(
        page,
        "() => document.querySelectorAll('.row.run').length > 0 && [...document.querySelectorAll('.row.run .reason')].every(e => e.textContent === 'not started')",
    )
    assert page.locator(".row.run").count() == min(len(never), page.locator(".row.run").count())
    page.click("#counts [data-status=failed]")  # then "failed": every failed run, the broken ones too
    wait_js(page, "() => window.runwatch.reasonFilter.size === 0 && window.runwatch.statusFilter.has('failed')")
    wait_js(page, "() => [...document.querySelectorAll('.row.run .reason')].some(e => e.textContent !== 'not started')")


def test_the_page_sorts_as_the_server_and_the_cli_do(served):
    """One sort: for every key the snapshot ships, the page's order (folders off) is /api/runs' order in the
    key's own direction, and `runwatch status --sort KEY` has it too."""
    import json
    import subprocess
    import sys
    import urllib.request

    tree, srv, browser = served
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(srv.url + "#group=0")
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size > 0")
    keys = page.evaluate("() => Object.keys(window.runwatch.sortKeys || {})")
    assert {"run", "status", "progress", "updated", "eta", "best", "latest"} <= set(keys), keys
    for key in keys:
        if key == "cluster":
            continue
        desc = page.evaluate("(k) => window.runwatch.sortKeys[k].descending", key)
        page.evaluate("(h) => { location.hash = h; }", f"group=0&sort={'-' if desc else ''}{key}")
        wait_js(page, "(k) => window.runwatch.sortKey === k && !window.runwatch.viewDirty", key)
        shown = page.evaluate("() => window.runwatch.view.map(r => r.run)")
        with urllib.request.urlopen(srv.base + f"api/runs?limit=10000&sort={'-' if desc else ''}{key}", timeout=30) as r:
            api = [x["run"] for x in json.loads(r.read())["runs"]]
        assert shown == api, key
        if key in ("run", "progress", "kind", "best", "latest"):  # the CLI here sees no processes: keys statuses do not move
            out = subprocess.run(
                [sys.executable, "-m", "runwatch.cli", "status", "--jsonl", "--no-local", "--root", tree.root, "--sort", key],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert [json.loads(x)["run"] for x in out.stdout.splitlines()] == api, key
