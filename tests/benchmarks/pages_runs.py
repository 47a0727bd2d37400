"""How long the runs list takes to load in Chromium with 1,000 runs in the project.

    .venv/bin/python -m tests.benchmarks.pages_runs [--runs 1000] [--reps 7]

Builds a fresh PostgreSQL database with one project of `--runs` runs (a tenth of them still
running, so the page opens its status stream), serves the app as the dashboard tests do (the
threaded werkzeug server on loopback) and opens each page below in headless Chromium, logged in:
one warm-up, then `--reps` loads each, interleaved. Per page: the median and worst time from
navigation start to DOMContentLoaded (`performance.timing`), and of that the server's part
(request start to response end). Prints one JSON document; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from sqlalchemy import update
from werkzeug.serving import make_server

from ci import runtime
from ci.config import Settings
from ci.store.models import Run
from tests.conftest import API_TOKEN, drop_database, fresh_database
from tests.dashboard import seed_runs
from tests.dashboard.conftest import CHROMEDRIVER, CHROMIUM, Browser, Site

PROJECT = "bench"
PAGES = {
    "newest first": f"/projects/{PROJECT}/runs",
    "sorted by loss": f"/projects/{PROJECT}/runs?sort=-metrics.loss",
    "filtered": f"/projects/{PROJECT}/runs?query=status:failed|running,metrics.loss:<0.01",
    "last page": f"/projects/{PROJECT}/runs?offset=950",
    "500 to a page": f"/projects/{PROJECT}/runs?limit=500",
}
TIMING = """const t = performance.timing;
return [t.domContentLoadedEventEnd - t.navigationStart, t.responseEnd - t.requestStart,
        t.requestStart - t.navigationStart, t.domContentLoadedEventEnd - t.responseEnd,
        document.querySelectorAll('#runs tbody tr[data-run]').length];"""
_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def measure(browser: Browser, path: str) -> dict[str, float]:
    """Milliseconds to DOMContentLoaded and its parts: before the request went out (leaving
    the page before), the server's answer, and the browser's work after it; rows shown."""
    browser.open(path)
    browser.wait(lambda: browser.script("return performance.timing.domContentLoadedEventEnd"), path)
    loaded, server, before, after, rows = browser.script(TIMING)
    return {"loaded": loaded, "before": before, "server": server, "after": after, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    from ci.app import create_app

    url = fresh_database("axon_bench_pages")
    try:
        with TemporaryDirectory() as home:
            settings = Settings(
                home=home,
                database_url=url,
                broker_url="memory://",
                embedded=False,
                runs_dir=str(Path(home) / "runs"),
                public_url="http://axon.test",
                secret_key="bench-secret-key",
                api_token=API_TOKEN,
            )
            app = create_app(settings)
            db = runtime.get().db
            log(f"seeding {args.runs} runs")
            uuids = seed_runs.many(db, PROJECT, args.runs)
            with db.session() as session:
                live = uuids[::10]
                session.execute(
                    update(Run).where(Run.uuid.in_(live)).values(status="running", finished_at=None)
                )
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            driver = chromium()
            try:
                browser = Browser(driver, Site(f"http://127.0.0.1:{server.port}", db, settings))
                browser.log_in()
                figures = run_pages(browser, args.reps)
            finally:
                driver.quit()
                server.shutdown()
                db.dispose()
    finally:
        drop_database(url)
    print(json.dumps({"runs": args.runs, "reps": args.reps, "pages": figures}, indent=2))


def run_pages(browser: Browser, reps: int) -> dict[str, Any]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in PAGES}
    for path in PAGES.values():
        measure(browser, path)  # warm-up: templates compiled, connections pooled
    for rep in range(reps):
        log(f"rep {rep + 1} of {reps}")
        for name, path in PAGES.items():
            samples[name].append(measure(browser, path))
    return {name: {"path": path, **summary(samples[name])} for name, path in PAGES.items()}


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    parts = {
        "dom_content_loaded_ms": "loaded",
        "before_request_ms": "before",
        "server_ms": "server",
        "browser_after_response_ms": "after",
    }
    found: dict[str, Any] = {"rows": int(samples[-1]["rows"])}
    for label, key in parts.items():
        values = [sample[key] for sample in samples]
        found[label] = {"median": statistics.median(values), "max": max(values)}
    return found


if __name__ == "__main__":
    main()
