"""The compare panel in real Chromium at three sizes, over runs written by real (imitation) Pylon
trainers: selecting rows, overlaid curves, the hyperparameter table and its columns in the runs
table, search by metric name and key=value, the score and common-failure maps (their colours
checked against the scores), a datapoint across runs, bad data named, and no markup from disk run."""

from __future__ import annotations

import json
import os

import pytest

from compare_project import DATAPOINTS, EPOCHS, add_run, build, trainer
from runwatch.process_info import ProcessSnapshot
from runwatch.server import BackgroundServer
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, SHOTS, XSS_NAME, open_page, wait_js

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmp_browser") / "proj")
    build(root)
    # A run whose name and one hyperparameter are markup: both must show as text.
    rel = f"exp/{XSS_NAME}"
    body = trainer(rel, "0.1", seed=99, scores=[0.45, 0.5, 0.55])[:-1] + ", 'note': '<script>window.__xss=2</script>'}"
    add_run(root, rel, body)
    return root


@pytest.fixture(scope="module")
def served(project):
    pw = pytest.importorskip("playwright.sync_api")
    with BackgroundServer(project, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv, pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield project, srv, browser
        browser.close()


def shot(page, name: str, tmp_path) -> None:
    page.screenshot(path=os.path.join(SHOTS or str(tmp_path), name))


def scores(root: str, rel: str, epoch: int) -> dict:
    with open(os.path.join(root, "logs", rel, f"epoch_{epoch}", "validation_scores.json")) as f:
        return json.load(f)


PIXEL = """([id, i]) => {
  const c = document.getElementById(id), side = c._side, cell = c._cell;
  const x = (i % side) * cell + Math.floor(cell / 2), y = Math.floor(i / side) * cell + Math.floor(cell / 2);
  return [...c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)];
}"""


@pytest.mark.parametrize("size", [(800, 600), (1280, 800), (1920, 1080)])
def test_compare_panel(served, size, tmp_path):
    root, srv, browser = served
    w, h = size
    page, errors = open_page(browser, srv.url, size)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size >= 11")
    ids = page.evaluate("() => Object.fromEntries([...window.runwatch.runs.values()].map(r => [r.run, r.id]))")

    # Search by metric name (Pylon's list score's sub-metric) and by key=value.
    page.fill("#search", "class_iou[1]")
    wait_js(page, "() => !window.runwatch.viewDirty && document.querySelectorAll('.row.run').length === 10")
    page.fill("#search", "lr=0.01")
    wait_js(page, "() => !window.runwatch.viewDirty && document.querySelectorAll('.row.run').length === 3")
    assert sorted(page.locator(".row.run").evaluate_all("els => els.map(e => e.dataset.run)")) == [f"exp/lr0.01_run_{k}" for k in range(3)]
    page.fill("#search", "")
    wait_js(page, "() => !window.runwatch.viewDirty && document.querySelectorAll('.row.run').length >= 11")

    # Select rows by their boxes, then compare.
    chosen = [f"exp/lr0.1_run_{k}" for k in range(3)] + [f"exp/lr0.01_run_{k}" for k in range(3)] + ["exp/eval", f"exp/{XSS_NAME}", "bad/short"]
    for name in chosen[:2]:
        page.locator(f".row.run[data-id='{ids[name]}'] .cmp-pick").check()
    page.evaluate("(ids) => window.RunwatchCompare.select(ids)", [ids[n] for n in chosen[2:]])
    assert page.locator("#cmp-open").inner_text() == f"Compare ({len(chosen)})"
    page.click("#cmp-open")
    wait_js(page, "() => window.RunwatchCompare.timings.curves !== undefined")
    assert "compare=" in page.evaluate("location.hash")
    legend = page.locator(".cmp-legend").inner_text()
    assert XSS_NAME in legend and "exp/lr0.1_run_0 (best" in legend
    assert page.evaluate("() => document.getElementById('cmp-curves').width") > 0
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, f"compare-curves-{w}x{h}.png", tmp_path)

    # Hyperparameters: what differs, sortable, and chosen ones as columns of the runs table.
    page.click("[data-tab=hparams]")
    page.wait_for_selector("#cmp-hparams")
    heads = page.locator("#cmp-hparams thead th").all_inner_texts()
    assert any(t.startswith("optimizer.args.lr") for t in heads) and any(t.startswith("note") for t in heads)
    assert page.locator("#cmp-hparams td", has_text="<script>window.__xss=2</script>").count() == 1  # shown as text
    page.locator("#cmp-hparams th.best").click()
    page.wait_for_selector("#cmp-hparams th.sorted")
    best = [float(x) for x in page.locator("#cmp-hparams tbody td.best").evaluate_all("els => els.map(e => e.textContent).filter(Boolean)")]
    assert best == sorted(best, reverse=True)  # acc: higher is better, the better first
    shot(page, f"compare-hparams-{w}x{h}.png", tmp_path)
    page.locator("#cmp-hparams th[title='optimizer.args.lr'] .cmp-col").click()
    page.wait_for_selector("#cmp-hparams th[title='optimizer.args.lr'] .cmp-col.on")

    # Datapoints: the score map's colours follow the scores, the failure map the rule, a click shows a datapoint.
    page.click("[data-tab=datapoints]")
    wait_js(page, "() => window.RunwatchCompare.timings.scoremap !== undefined && window.RunwatchCompare.timings.failures !== undefined")
    page.wait_for_selector("#cmp-hardest tbody tr")
    acc = scores(root, "exp/lr0.1_run_0", EPOCHS - 1)["per_datapoint"]["acc"]
    worst, top = acc.index(min(acc)), acc.index(max(acc))
    r, g, _ = page.evaluate(PIXEL, ["cmp-map", worst])
    assert r > 150 and g < 100, (r, g)  # red: the lowest acc (higher is better)
    r, g, _ = page.evaluate(PIXEL, ["cmp-map", top])
    assert g > 120 and r < 60, (r, g)  # green: the highest
    assert page.evaluate("() => document.getElementById('cmp-map')._side") == 18
    assert page.evaluate(PIXEL, ["cmp-map", 18 * 18 - 1]) == [240, 242, 246]  # the cells past the last datapoint are empty
    fail = page.evaluate("() => document.getElementById('cmp-fail')._n")
    assert fail == DATAPOINTS
    # bad/short wrote its loss for half the datapoints: the loss failure map leaves it out, naming its file.
    page.evaluate("() => { delete window.RunwatchCompare.timings.failures; }")
    page.select_option("#cmp-metric", "loss")
    wait_js(page, "() => window.RunwatchCompare.timings.failures !== undefined")
    warn = page.locator(".cmp-warnbox").inner_text()
    assert "bad/short/epoch_1/validation_scores.json" in warn and "left out" in warn, warn
    page.select_option("#cmp-metric", "acc")
    page.wait_for_selector("#cmp-hardest tbody tr")
    page.locator("#cmp-hardest tbody tr").first.click()
    page.wait_for_selector("#cmp-datapoint tbody tr")
    assert page.locator("#cmp-datapoint tbody tr").count() >= 6 * EPOCHS
    t = page.evaluate("() => window.RunwatchCompare.timings")
    assert t["scoremap"] < 1000 and t["failures"] < 1000, t
    page.evaluate("() => { const el = document.getElementById('cmp-body'); el.scrollTop = 0; }")
    shot(page, f"compare-datapoints-{w}x{h}.png", tmp_path)

    # Back to the table: the chosen hyperparameter is a column.
    page.click("#cmp-close")
    wait_js(page, "() => document.getElementById('cmp-panel').hidden")
    page.wait_for_selector("#thead .c-param")
    cell = page.locator(f".row.run[data-id='{ids['exp/lr0.01_run_1']}'] .c-param").inner_text()
    assert cell == "0.01"
    assert page.evaluate("window.__xss") is None and page.locator("#cmp-panel img, #rows img").count() == 0
    page.locator("#thead .c-param").click()  # and removed again
    wait_js(page, "() => !document.querySelector('#thead .c-param')")
    assert errors == []
    page.close()


@pytest.mark.parametrize("size", [(800, 600), (1280, 800), (1920, 1080)])
def test_search_by_hyperparameter_and_data_warnings_on_the_run(served, size, tmp_path):
    """The search box asks the server's one rule (lr>0.04 finds the 0.1 and the bad runs); once a map of a run
    was read, the run's own panel lists its per-datapoint problems, naming the file."""
    root, srv, browser = served
    w, h = size
    page = browser.new_page(viewport={"width": w, "height": h})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url)
    page.wait_for_selector("#conn.conn-live")
    wait_js(page, "() => window.runwatch.runs.size >= 11")
    ids = page.evaluate("() => Object.fromEntries([...window.runwatch.runs.values()].map(r => [r.run, r.id]))")
    page.fill("#search", "lr>0.04 class_iou")
    wait_js(page, "() => !window.runwatch.viewDirty && document.querySelectorAll('.row.run').length === 6")
    shown = sorted(page.locator(".row.run").evaluate_all("els => els.map(e => e.dataset.run)"))
    assert shown == sorted(["bad/nan", "bad/short", f"exp/{XSS_NAME}"] + [f"exp/lr0.1_run_{k}" for k in range(3)])  # bad/nodata has no class_IoU
    # A comparison reads bad/short's scores (as the compare panel's score map does); its panel then says what is wrong.
    page.evaluate("(id) => fetch('api/compare/scoremap?run=' + id + '&metric=acc&epoch=1').then(r => r.json())", ids["bad/short"])
    page.fill("#search", "bad/short")
    wait_js(page, "() => !window.runwatch.viewDirty && document.querySelectorAll('.row.run').length === 1")
    page.locator(f".row.run[data-id='{ids['bad/short']}']").click()
    page.wait_for_selector(".data-warnings li")
    text = page.locator(".data-warnings").inner_text()
    assert "bad/short/epoch_1/validation_scores.json" in text and "150 datapoints, the other metrics 300" in text, text
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, f"run-data-warnings-{w}x{h}.png", tmp_path)
    assert errors == []
    page.close()
