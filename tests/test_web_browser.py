"""The page in a real browser: Chromium from the system's packages, driven by Playwright, against the
application served by uvicorn on loopback. Every number the page shows is checked against the Model API.

Skipped, with the reason, when Playwright, the web extra or a Chromium binary is missing (``.ci/run``
installs the system's ``chromium`` before the tests).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

if os.environ.get("BAYESNET_REQUIRE_BROWSER"):  # continuous integration: a missing piece is a failure, not a skip
    import playwright.sync_api as playwright_api
    import starlette  # noqa: F401
    import uvicorn
else:
    pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
    uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")

from bayesnet.analysis.montecarlo import monte_carlo  # noqa: E402
from bayesnet.analysis.sensitivity import one_way  # noqa: E402
from bayesnet.errors import BayesnetError  # noqa: E402
from bayesnet.inference.evidence import parse_evidence  # noqa: E402

CASES = Path(__file__).parent / "cases.csv"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((path for path in map(shutil.which, BROWSERS) if path), None)

NO_BROWSER = (f"no Chromium found on PATH (looked for {', '.join(BROWSERS)}); "
              "install the system package, e.g. apt-get install chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("BAYESNET_REQUIRE_BROWSER"), reason=NO_BROWSER)

READY = "() => document.body.dataset.ready !== undefined && document.body.dataset.ready === document.body.dataset.requested"


def seed_tokens(name: str) -> list[str]:
    with CASES.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["case"] == name:
                return row["evidence"].split()
    raise LookupError(name)


@pytest.fixture(scope="module")
def server(model):
    """The application on a free loopback port, served by uvicorn in a background thread."""
    from bayesnet.cli.serve_command import listen
    from bayesnet.web.app import create_app, loopback_hosts, warm_up

    warm_up(model)
    sock = listen("127.0.0.1", 0)
    app = create_app(model, allowed_hosts=loopback_hosts(sock.getsockname()[1]))   # as bayesnet serve builds it
    app_server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not app_server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app_server.started, "the server did not start within 30 s"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    app_server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail(NO_BROWSER + " (BAYESNET_REQUIRE_BROWSER is set)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.errors = errors
    yield page
    page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    context.close()


def wait(page) -> None:
    page.wait_for_function(READY, timeout=30_000)


def shown_top(page) -> tuple[str, float, str]:
    first = page.locator("#differential li").first
    button = first.locator("button.condition")
    return first.get_attribute("data-condition"), float(button.get_attribute("data-posterior")), \
        button.locator(".numbers").inner_text()


def shown_evidence(page) -> dict:
    return json.loads(page.evaluate("() => JSON.stringify(state.evidence)"))


def test_a_seed_case_entered_by_typing_and_clicking_gives_the_models_differential(page, server, model, tmp_path):
    tokens = seed_tokens("renal_osteodystrophy_raised_calcium_phosphate")
    evidence = parse_evidence(tokens)
    page.goto(server + "/")
    wait(page)
    for node, state in evidence.items():
        page.locator("#search").fill("")
        page.locator("#search").press_sequentially(node.replace("_", " "))
        page.locator(f"label[for='node-{node}-{state}']").click()
        wait(page)
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
    expected = model.posteriors(evidence)
    condition, posterior, text = shown_top(page)
    assert condition == expected.index[0]
    assert posterior == pytest.approx(expected["posterior"].iloc[0], abs=1e-12)
    assert text.startswith(f"{expected['posterior'].iloc[0]:.4f} (prior {expected['prior'].iloc[0]:.4f})")
    assert page.locator("#differential li").count() == len(model.conditions)
    assert f"{expected.attrs['none']:.4f}" in page.locator("#none-value").inner_text()
    assert shown_evidence(page) == evidence
    query = urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query)
    assert [f"{k}={v}" for k, v in query] == tokens                       # the case is in the address
    assert page.locator("#case-text").input_value() == "bayesnet query " + " ".join(tokens)
    assert page.errors == []


def test_the_explanation_shows_the_models_weights_and_the_numbers_behind_them(page, server, model, tmp_path):
    tokens = seed_tokens("tumoral_calcinosis_fluid_levels")
    evidence = parse_evidence(tokens)
    page.goto(server + "/?" + "&".join(tokens))
    wait(page)
    expected = model.posteriors(evidence)
    assert page.locator("#why-summary strong").inner_text() == expected.index[0]
    second = expected.index[1]
    page.locator(f"#differential li[data-condition='{second}'] button").click()
    page.wait_for_function("(name) => document.querySelector('#why-summary strong').textContent === name", arg=second)
    assert page.locator(f"#differential li[data-condition='{second}'] button").get_attribute("aria-pressed") == "true"
    weights = model.explain(evidence, second)
    rows = page.locator("#why tbody tr")
    assert [rows.nth(i).locator("code").first.inner_text() for i in range(rows.count())] == list(weights.index)
    assert [rows.nth(i).locator("td.num").first.inner_text() for i in range(rows.count())] == \
        [f"{w:+.3f}" for w in weights["woe"]]
    # the numbers behind one item, with their kind, source and quote, one click away
    provenance = model.provenance().set_index("parameter")
    row = page.locator("#why tbody tr[data-node='fluid_fluid_levels']")
    row.locator("details summary").click()
    items = row.locator("li[data-parameter]")
    parameters = [items.nth(i).get_attribute("data-parameter") for i in range(items.count())]
    assert parameters and set(parameters) <= set(provenance.index)
    quoted = [p for p in parameters if provenance.loc[p, "quote"]]
    for parameter in quoted:
        item = row.locator(f"li[data-parameter='{parameter}']")
        assert item.locator("blockquote").inner_text() == provenance.loc[parameter, "quote"]
        assert item.locator(".kind").inner_text() == provenance.loc[parameter, "kind"]
    assert page.url.endswith(f"#why={second}")
    page.screenshot(path=str(tmp_path / "why.png"), full_page=True)
    assert page.errors == []


def test_one_click_on_the_next_finding_enters_it(page, server, model):
    tokens = seed_tokens("tumoral_calcinosis_fluid_levels")
    evidence = parse_evidence(tokens)
    page.goto(server + "/?" + "&".join(tokens))
    wait(page)
    ranked = model.next_findings(evidence)
    first = page.locator("#next li").first
    finding = first.get_attribute("data-finding")
    assert finding == ranked.index[0]
    state = model.states(finding)[-1]
    first.locator(f"button[data-state='{state}']").click()
    wait(page)
    evidence[finding] = state
    assert shown_evidence(page) == evidence
    expected = model.posteriors(evidence)
    condition, posterior, _ = shown_top(page)
    assert condition == expected.index[0]
    assert posterior == pytest.approx(expected["posterior"].iloc[0], abs=1e-12)
    assert page.locator(f"#node-{finding}-{state}").is_checked()


def test_a_shared_address_opens_the_case_and_copies_as_json_and_as_a_command(page, server, model, tmp_path):
    tokens = ["mineral_soft_tissue=present", "trauma=present", "extent=single_site", "soft_tissue_mass=0.3,0.9"]
    evidence = parse_evidence(tokens)
    page.goto(server + "/?" + "&".join(tokens))
    wait(page)
    expected = model.posteriors(evidence)
    condition, posterior, _ = shown_top(page)
    assert (condition, posterior) == (expected.index[0], pytest.approx(expected["posterior"].iloc[0], abs=1e-12))
    assert page.locator("#node-trauma-present").is_checked()
    assert page.locator("#node-extent-single_site").is_checked()
    assert page.locator("#node-soft_tissue_mass-soft").input_value() == "75"   # 0.9 / (0.3 + 0.9)
    page.locator("#copy-json").click()
    assert json.loads(page.locator("#case-text").input_value()) == evidence
    page.locator("#copy-command").click()
    command = page.locator("#case-text").input_value().split()
    assert command[:2] == ["bayesnet", "query"] and parse_evidence(command[2:]) == evidence
    page.locator("#clear-all").click()
    wait(page)
    assert shown_evidence(page) == {} and urllib.parse.urlparse(page.url).query == ""
    assert shown_top(page)[0] == model.posteriors({}).index[0]
    page.screenshot(path=str(tmp_path / "shared.png"), full_page=True)


def test_the_page_works_from_the_keyboard_and_labels_every_control(page, server, model):
    page.goto(server + "/")
    wait(page)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, button, textarea')]
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map((e) => e.outerHTML.slice(0, 80))""")
    assert unlabelled == []
    page.locator("#search").focus()
    page.keyboard.type("fluid fluid levels")
    page.keyboard.press("Tab")          # the group's summary, the only group left by the search
    page.keyboard.press("Tab")          # the node's radio group, on "not observed"
    page.keyboard.press("ArrowRight")   # absent
    wait(page)
    page.keyboard.press("ArrowRight")   # present
    wait(page)
    assert shown_evidence(page) == {"fluid_fluid_levels": "present"}
    assert shown_top(page)[0] == model.posteriors({"fluid_fluid_levels": "present"}).index[0]


def test_how_sure_shows_the_tornado_and_the_monte_carlo_interval_of_the_top_condition(page, server, model, tmp_path):
    tokens = seed_tokens("tumoral_calcinosis_fluid_levels")
    evidence = parse_evidence(tokens)
    page.goto(server + "/?" + "&".join(tokens))
    wait(page)
    page.locator("#run-sensitivity").click()
    page.locator("#tornado").wait_for(timeout=60_000)
    tornado = one_way(model, evidence)
    rows = page.locator("#tornado .row")
    assert [rows.nth(i).get_attribute("data-parameter") for i in range(rows.count())] == list(tornado.index[:10])
    interval = monte_carlo(model, evidence, draws=2000, seed=0).summary.loc[tornado.attrs["target"]]
    text = page.locator("#interval").inner_text()
    assert text.startswith(tornado.attrs["target"])
    assert f"90% interval {interval['q05']:.4f}–{interval['q95']:.4f}" in text
    page.screenshot(path=str(tmp_path / "sure.png"), full_page=True)


def test_bad_evidence_in_the_address_shows_the_command_lines_message(page, server, model):
    page.goto(server + "/?fluid_levels=present")
    wait(page)
    with pytest.raises(BayesnetError) as raised:
        model.posteriors({"fluid_levels": "present"})
    assert page.locator("#error").is_visible()
    assert page.locator("#error").inner_text() == str(raised.value)
    # a node given twice: as the command line, the message names both; the page keeps the last
    page.goto(server + "/?trauma=present&trauma=absent")
    wait(page)
    with pytest.raises(BayesnetError) as raised:
        parse_evidence(["trauma=present", "trauma=absent"])
    assert page.locator("#error").inner_text().startswith(str(raised.value))
    assert shown_evidence(page) == {"trauma": "absent"}
    assert shown_top(page)[0] == model.posteriors({"trauma": "absent"}).index[0]


def test_the_page_says_which_presenting_finding_the_evidence_implies(page, server, model):
    page.goto(server + "/?mineral_soft_tissue=absent")
    wait(page)
    assert model.posteriors({"mineral_soft_tissue": "absent"}).attrs["implied"] == "mineral_lung=present"
    assert "Answered with mineral_lung=present implied" in page.locator("#none-value").inner_text()
    page.goto(server + "/?mineral_soft_tissue=present")
    wait(page)
    assert "implied" not in page.locator("#none-value").inner_text()
    assert page.errors == []
