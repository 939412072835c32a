"""Take the README's screenshot of the page, and time how long the differential takes to redraw after a click.

    python scripts/screenshot.py [-o docs/page.png] [--clicks 20]

Serves the shipped model on a free loopback port (``bayesnet serve`` in a child process), opens a seed-derived
case in Chromium from the system's packages (Playwright; the browser is found on PATH or given with
``--browser``), shows the explanation of the top condition and the tornado, and writes the PNG
(256 colours). Then it clicks states of findings ``--clicks`` times and prints the page's own
measure of each update: from the click's request to the differential drawn.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from loadtest import start_server  # scripts/loadtest.py: bayesnet serve in a child process, its address

CASE = ("mineral_soft_tissue=present&age_band=young_adult&trauma=present&soft_tissue_mass=present"
        "&site_limb_muscles=present&rim_by_4_6_weeks=present&radiolucent_cleft=present")
READY = "() => document.body.dataset.ready !== undefined && document.body.dataset.ready === document.body.dataset.requested"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="docs/page.png", help="the PNG to write (default docs/page.png)")
    parser.add_argument("--clicks", type=int, default=20, help="clicks to time (default 20; 0: none)")
    parser.add_argument("--browser", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                        help="the Chromium binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    if not args.browser:
        parser.error("no Chromium found on PATH; install the system package (apt-get install chromium) or give --browser")

    from PIL import Image
    from playwright.sync_api import sync_playwright

    server, url = start_server()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.browser, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{url}/?{CASE}")
            page.wait_for_function(READY)
            page.locator("#run-sensitivity").click()
            page.locator("#tornado").wait_for()
            page.locator("#why tbody tr details summary").first.click()
            page.evaluate("() => window.scrollTo(0, 0)")
            output = Path(args.output)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
            Image.open(output).convert("RGB").quantize(colors=256).save(output, optimize=True)
            print(f"wrote {output} ({output.stat().st_size // 1024} KB)", file=sys.stderr)

            times, answers = [], []
            buttons = ["#node-fluid_fluid_levels-present", "#node-fluid_fluid_levels-absent",
                       "#node-trabeculated_bone-present", "#node-trabeculated_bone-unobserved"]
            for i in range(args.clicks):
                page.locator(buttons[i % len(buttons)]).check()
                page.wait_for_function(READY, polling=200)  # polling every frame would compete with the page
                times.append(float(page.evaluate("() => document.body.dataset.updateMs")))
                answers.append(float(page.evaluate("() => document.body.dataset.answerMs")))
            if times:
                print(f"click to differential drawn, {len(times)} clicks: median {statistics.median(times):.1f} ms, "
                      f"max {max(times):.1f} ms (of which the server's answer arriving: median "
                      f"{statistics.median(answers):.1f} ms, max {max(answers):.1f} ms)")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
