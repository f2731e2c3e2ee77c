"""depth-ros-view --web in a real browser: the recording served on localhost, loaded in headless
Chromium (Debian's chromium, installed by the test setup), screenshot checked to be the viewer with data."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "out" / "test-view" / "view.png"  # kept for a look (the README's docs/images/view.png)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--use-gl=angle", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader"]
LOAD_TIMEOUT_S = 120.0  # software WebGL on 2 busy cores: compiling the viewer alone can take a minute


def _turbo_share(rgb: np.ndarray) -> float:
    """Share of the pixels whose colour is a saturated colour of the turbo map (the depth's colour map)."""
    lut = cv2.cvtColor(cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    lut = lut.reshape(-1, 3).astype(np.int16)[32:224]  # the map's saturated middle, not its dark ends
    px = rgb[::3, ::3].reshape(-1, 3).astype(np.int16)
    near = np.zeros(len(px), bool)
    for colour in lut[::4]:
        near |= np.abs(px - colour).max(axis=1) <= 12
    return float(near.mean())


def _looks_like_the_viewer_with_data(png: bytes) -> tuple[bool, dict]:
    img = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    grey = img.mean(axis=2)
    stats = {"std": float(grey.std()), "colours": int(len(np.unique(img[::4, ::4].reshape(-1, 3), axis=0))),
             "turbo": _turbo_share(img)}
    return stats["std"] > 20 and stats["colours"] > 500 and stats["turbo"] > 0.03, stats


def _screenshot(page) -> bytes | None:
    """A screenshot, or None when the page is too busy rendering to take one now."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.screenshot(timeout=45_000)
    except PlaywrightTimeout:
        return None


@pytest.mark.slow
def test_the_web_viewer_shows_the_recording_in_chromium(view_rrd):
    if not Path(CHROMIUM).is_file():
        pytest.fail("Debian's chromium is missing: ./scripts/setup_env.sh test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from depth_ros.view.viewer import free_port

    port = free_port()
    # Its own process group, so that Ctrl-C reaches depth-ros-view and the Rerun server it started, as in a
    # terminal, and nothing of it outlives the test.
    server = subprocess.Popen([sys.executable, "-m", "depth_ros.tools.view", str(view_rrd), "--web", "--web-port",
                               str(port), "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "DISPLAY": ""}, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline()
            found = re.search(r"web viewer: (http://localhost:\d+/\S+)", line)
            url = found.group(1) if found else None
        assert url is not None, f"no URL printed (exit {server.poll()})"
        assert url.startswith(f"http://localhost:{port}/?url=rerun%2Bhttp%3A%2F%2F127.0.0.1%3A")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            response = page.goto(url)
            assert response is not None and response.ok, response and response.status
            assert "rerun" in page.content().lower()  # Rerun's own page, not an error page
            ok, stats, png = False, {}, b""
            end = time.monotonic() + LOAD_TIMEOUT_S
            while not ok and time.monotonic() < end:
                page.wait_for_timeout(2000)
                shot = _screenshot(page)
                if shot is not None:
                    png = shot
                    ok, stats = _looks_like_the_viewer_with_data(png)
            if ok:  # the first frame with data is in; let the remaining views finish decoding for the picture
                page.wait_for_timeout(3000)
                png = _screenshot(page) or png
            assert page.locator("canvas").count() >= 1
            browser.close()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(png)
        assert ok, f"the viewer shows no data after {LOAD_TIMEOUT_S:.0f} s: {stats}; see {SCREENSHOT}"
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # whatever of the group is left
    assert server.returncode in (0, 130, -signal.SIGINT), server.returncode


def test_a_blank_page_is_not_taken_for_the_viewer():
    """The check above fails on what a broken load shows: a uniform page, the loading screen, random noise."""
    blank = np.full((800, 1280, 3), 14, np.uint8)
    loading = blank.copy()
    cv2.putText(loading, "Loading Application Bundle...", (500, 400), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1)
    noise = np.random.default_rng(0).integers(0, 256, (800, 1280, 3), dtype=np.uint8)
    for img in (blank, loading, noise):
        ok, stats = _looks_like_the_viewer_with_data(cv2.imencode(".png", img)[1].tobytes())
        assert not ok, stats
