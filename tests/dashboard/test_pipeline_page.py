"""A dag's page draws its ops in layers with an edge per dependency, each op in its status's
colour and linked to its run, and follows their statuses while it is open."""

from __future__ import annotations

import time

from schemas.status import RunStatus
from tests.dashboard import seed, seed_analysis
from tests.dashboard.conftest import Browser

S = RunStatus
DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
# Generous for a shared CI machine: on an idle one a thousand ops draw well within a second.
THOUSAND_OPS_SECONDS = 5.0


def diamond(site, project: str) -> str:
    """The dag a -> (b, c) -> d with a succeeded, b running and c queued; d waits."""
    uuid = seed_analysis.dag(site.db, project, DIAMOND)
    seed_analysis.move_op(site.db, uuid, "a", *seed_analysis.TO_RUNNING, S.SUCCEEDED)
    seed_analysis.move_op(site.db, uuid, "b", *seed_analysis.TO_RUNNING)
    seed_analysis.move_op(site.db, uuid, "c", S.COMPILED, S.QUEUED)
    return uuid


def nodes(browser: Browser) -> dict[str, str]:
    """Each op drawn, with its node's classes."""
    return {
        node.get_attribute("data-op"): node.get_attribute("class")
        for node in browser.all("#dag g.node")
    }


def columns(browser: Browser) -> dict[str, float]:
    """Each op's distance from the left edge of the drawing."""
    return browser.script(
        "var found = {};"
        "document.querySelectorAll('#dag g.node').forEach(function (node) {"
        "  found[node.dataset.op] = node.transform.baseVal[0].matrix.e; });"
        "return found;"
    )


def test_the_dag_is_drawn_with_each_op_its_status_and_an_edge_per_dependency(browser, site):
    uuid = diamond(site, "pipeline-diamond")

    browser.log_in().open(f"/runs/{uuid}/pipeline")
    browser.find("#dag g.node")

    assert nodes(browser) == {
        "a": "node succeeded",
        "b": "node running",
        "c": "node queued",
        "d": "node created",
    }
    edges = {
        (edge.get_attribute("data-from"), edge.get_attribute("data-to"))
        for edge in browser.all("#dag path.edge")
    }
    assert edges == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    assert len(browser.all("#dag path.edge")) == 4
    x = columns(browser)
    assert x["a"] < x["b"] == x["c"] < x["d"]  # a layer per longest path from the root
    assert browser.text("#dag-counts") == "4 op(s): 1 created, 1 queued, 1 running, 1 succeeded"


def test_each_op_links_to_its_run(browser, site):
    uuid = diamond(site, "pipeline-links")
    op = seed_analysis.move_op(site.db, uuid, "d")

    browser.log_in().open(f"/runs/{uuid}/pipeline")
    link = browser.find("#dag a:has(g.node[data-op=d])")

    assert link.get_dom_attribute("href").endswith(f"/runs/{op}")


def test_a_status_written_to_the_database_shows_on_the_open_page_without_reload(browser, site):
    uuid = diamond(site, "pipeline-live")
    browser.log_in().open(f"/runs/{uuid}/pipeline")
    browser.find("#dag g.node[data-op=b].running")
    browser.script("window.notReloaded = true")

    seed_analysis.move_op(site.db, uuid, "b", S.SUCCEEDED)
    seed_analysis.move_op(site.db, uuid, "c", S.SCHEDULED, S.RUNNING, S.FAILED)

    browser.find("#dag g.node[data-op=b].succeeded")
    browser.find("#dag g.node[data-op=c].failed")
    assert browser.text("#dag g.node[data-op=c] text.state") == "failed"
    assert browser.script("return window.notReloaded") is True


def test_a_run_that_is_not_a_dag_answers_a_404_page_saying_so(browser, site):
    uuid = seed.run(site.db, "pipeline-none", "train")

    browser.log_in().open(f"/runs/{uuid}/pipeline")

    assert "is a job run, not a pipeline" in browser.text("#pipeline-error")
    assert browser.answered() == 404


def test_a_dag_of_a_thousand_ops_draws_without_freezing_the_page(browser, site):
    # Ten ops a layer, each after two of the layer before.
    ops = {
        f"op-{layer}-{i}": (
            [f"op-{layer - 1}-{i}", f"op-{layer - 1}-{(i + 3) % 10}"] if layer else []
        )
        for layer in range(100)
        for i in range(10)
    }
    uuid = seed_analysis.dag(site.db, "pipeline-thousand", ops)

    browser.log_in()
    began = time.monotonic()
    browser.open(f"/runs/{uuid}/pipeline")
    holder = browser.find("#dag")
    browser.wait(lambda: holder.get_attribute("data-nodes"), "the drawing")
    waited = time.monotonic() - began

    assert holder.get_attribute("data-nodes") == "1000"
    assert holder.get_attribute("data-layers") == "100"
    assert len(browser.all("#dag path.edge")) == 1980
    print(f"\n1,000 ops: page open to drawn {waited:.2f} s")
    assert waited < THOUSAND_OPS_SECONDS
