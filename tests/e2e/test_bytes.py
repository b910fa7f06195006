"""What the map sends, seen from Chromium (issue #11, point 2).

Every text response is compressed; a layer toggle sends that layer only; the
district's service circles are a per-subdistrict coverage, not 19k street
buffers; the outline and the favicon are fetched once, not on every view; a
data change re-sends only the layers whose data changed. The budgets and the
figures before the change are measured in ``bench/app.py``; here each rule is
checked on what the browser really receives (bodies as sent, compressed).
"""

from __future__ import annotations

import json
import re

import pytest
from signin import sign_in
from test_dashboard import (  # noqa: F401
    TIMEOUT_MS,
    _crumbs,
    _first_unit,
    _live_copy,
    _serving,
    _wait_legend,
    _wait_numbers,
    _wait_view,
    browser,
    page_of,
    server,
)

pytestmark = pytest.mark.slow

#: A layer toggle's budget on the wire (bytes), at any level.
TOGGLE_BUDGET = 300_000


class _Callbacks:
    """The callback requests a page sends (which outputs) and their answers' sizes on the wire."""

    def __init__(self, page) -> None:
        self.sent: list[dict] = []
        page.on("requestfinished", self._done)

    def _done(self, request) -> None:
        if "_dash-update-component" not in request.url:
            return
        body = json.loads(request.post_data or "{}")
        sizes = request.sizes()
        self.sent.append(
            {
                "output": body.get("output", ""),
                "bytes": sizes["responseBodySize"] + sizes["responseHeadersSize"],
            }
        )

    def clear(self) -> None:
        self.sent.clear()

    def outputs(self) -> str:
        return " ".join(s["output"] for s in self.sent)

    def total(self) -> int:
        return sum(s["bytes"] for s in self.sent)


def _settle(page, ms: int = 1500) -> None:
    """Let the page's callbacks (fired together) come back."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(ms)


def test_every_text_response_is_compressed(page_of, server):  # noqa: F811
    page = page_of(1920, 1080)
    plain: list[str] = []

    def check(response) -> None:
        kind = response.headers.get("content-type", "")
        text = kind.startswith(("text/", "application/json", "application/javascript"))
        text |= "geo+json" in kind
        size = int(response.headers.get("content-length") or 0)
        # flask-compress leaves bodies under 500 B alone; the assets are a few kB, streamed.
        counted = text and response.status == 200 and "/assets/" not in response.url
        encoded = response.headers.get("content-encoding") in ("gzip", "br", "zstd")
        if counted and size >= 500 and not encoded:
            plain.append(f"{response.url} {kind} {size}")

    page.on("response", check)
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    _wait_numbers(page)
    _settle(page)
    assert plain == []


def test_a_toggle_sends_its_layer_only(page_of, server):  # noqa: F811
    page = page_of(1920, 1080)
    calls = _Callbacks(page)
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    _wait_numbers(page)
    _settle(page)
    toggles = page.get_by_test_id("layers")
    seen, features = {}, {}
    for layer in ("party", "circles", "heatmap"):
        calls.clear()
        toggles.locator(f"input[value={layer}]").check()
        _wait_legend(page, layer, "")
        _settle(page)
        outputs = calls.outputs()
        assert f"gm-{layer}.children" in outputs, outputs
        others = [o for o in ("party", "circles", "heatmap") if o != layer]
        for other in others:
            assert f"gm-{other}.children" not in outputs, (layer, outputs)
        assert "gm-units.hideout" not in outputs, (layer, outputs)
        seen[layer] = calls.total()
        features[layer] = page.locator("path").count()
        assert calls.total() <= TOGGLE_BUDGET, (layer, calls.total())
    # At the district, the circles are each subdistrict's coverage (a shape per
    # subdistrict), no street buffers; the heatmap is one image, not thousands of cells.
    circles = features["circles"] - features["party"]
    assert 0 < circles <= page.locator("path.gm-unit").count(), features
    assert features["heatmap"] == features["circles"], features
    legend = page.get_by_test_id("legend-circles").inner_text()
    assert "进入街道" in legend, legend
    # The heatmap is one image, not thousands of cells.
    assert page.locator("img.gm-image-incident_density").count() == 1
    print("toggle bytes at the district:", seen)


def test_the_outline_and_favicon_are_fetched_once(page_of, server, demo_admin):  # noqa: F811
    """Signing in (which opens the district), then down to a subdistrict and back by the
    breadcrumb, twice: the district's outline and the favicon come over the network
    once (then from the browser's cache)."""
    page = page_of(1920, 1080, signed_in=False)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    network: list[str] = []
    cdp.on(
        "Network.requestWillBeSent",
        lambda e: urls.update({e["requestId"]: e["request"]["url"]}),
    )

    def finished(event) -> None:
        url = urls.get(event["requestId"], "")
        # A response from the cache has nothing on the wire.
        if event.get("encodedDataLength", 0) > 0 and re.search(r"/outline/|_favicon", url):
            network.append(url)

    cdp.on("Network.loadingFinished", finished)
    sign_in(page, server, *demo_admin)
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    district = _crumbs(page)[0]
    for _ in range(2):
        code = _first_unit(page)
        page.locator(f"path.gm-unit-{code}").dispatch_event("click")
        _wait_view(page, code)
        page.wait_for_timeout(600)  # the click guard lets the new level settle
        page.locator("[data-testid=breadcrumb] a").first.click()
        _wait_view(page, district)
        page.wait_for_timeout(600)
    _settle(page, 500)
    outline = [u for u in network if f"/outline/{district}." in u]
    favicon = [u for u in network if "_favicon" in u]
    assert len(outline) == 1, network
    assert len(favicon) <= 1, network


def test_a_data_change_resends_only_what_changed(page_of, demo_path, tmp_path):  # noqa: F811
    """A case closed while the heatmap is on: the figures update; the heatmap (the
    incidents' places and times did not move) and the party layer are not sent again."""
    from gridmap.cli import main

    copy, case = _live_copy(demo_path, tmp_path)
    district = str(case["grid_code"])[:6]
    with _serving(copy, tmp_path, env={"GRIDMAP_REFRESH_SECONDS": "1"}) as url:
        page = page_of(1920, 1080, sign_in_at=url)
        calls = _Callbacks(page)
        page.goto(f"{url}/?unit={district}")
        page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
        _wait_numbers(page)
        toggles = page.get_by_test_id("layers")
        for layer in ("party", "heatmap"):
            toggles.locator(f"input[value={layer}]").check()
            _wait_legend(page, layer, "")
        _settle(page)
        open_now = page.get_by_test_id("number-incidents.open")
        shown = open_now.inner_text()
        calls.clear()
        move = ["incidents", "move", str(copy), str(case["id"]), "--to", "closed"]
        assert main([*move, "--closed-level", "grid"]) == 0
        page.wait_for_function(
            "n => document.querySelector(\"[data-testid='number-incidents.open']\").innerText != n",
            arg=shown,
            timeout=TIMEOUT_MS,
        )
        _settle(page, 2500)
        # On a loaded machine the layers' callbacks may come a little after the figures.
        for _ in range(60):
            outputs = " ".join(s["output"] for s in calls.sent)
            if all(f"gm-{layer}.children" in outputs for layer in ("party", "heatmap")):
                break
            page.wait_for_timeout(250)
        answered = {s["output"]: s["bytes"] for s in calls.sent}
        # The layers' callbacks ran (the data changed) but sent nothing: a 204 or an
        # answer without their layer. Their answers are a few hundred bytes at most.
        for layer in ("party", "heatmap"):
            runs = [b for o, b in answered.items() if f"gm-{layer}.children" in o]
            assert runs, answered
            assert max(runs) < 2_000, (layer, answered)
        assert calls.total() < 50_000, answered
