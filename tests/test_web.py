"""The web page of `emgrt serve --web` in a real headless Chromium (Debian's `chromium` package),
driven over the DevTools protocol with `websockets`: it connects and shows decoded characters."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from test_serve_live import ServeProcess, synth_session  # noqa: F401  (fixture)

TIMEOUT = 60.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path; installed with apt-get when missing and we are root."""
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail("the web test needs Debian's chromium: run `apt-get install -y chromium` as root")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

        def install() -> subprocess.CompletedProcess:
            return subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                                  timeout=900, env=env)

        r = install()
        if r.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=600, env=env)
            r = install()
        if r.returncode != 0 or not os.path.exists(CHROMIUM):
            pytest.fail(f"`apt-get install -y chromium` failed: {r.stderr[-500:]}")
    return CHROMIUM


class Browser:
    """Headless Chromium with one page, evaluated over the DevTools protocol."""

    def __init__(self, binary: str, profile: Path, url: str) -> None:
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"], open_timeout=TIMEOUT, max_size=None))
        self._id = 0

    def eval(self, expression: str):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}}))
        while True:
            msg = json.loads(self.ws.recv(TIMEOUT))
            if msg.get("id") == self._id:
                return msg.get("result", {}).get("result", {}).get("value")

    def wait_for(self, expression: str, what: str):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        pytest.fail(f"the page never showed {what}")

    def close(self) -> None:
        if getattr(self, "_stack", None) is not None:
            self._stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def served_page(chromium, profile, *serve_args: str):
    """`emgrt serve --web` with ``serve_args`` and a Chromium page on it; after the block the
    server must stop cleanly (exit 0, no traceback)."""
    serve = ServeProcess(*serve_args, "--port", "0", "--ws-port", "0", "--web")
    browser = None
    try:
        ws = serve.wait_for("ws")["ws"]
        browser = Browser(chromium, profile, f"http://{ws}/")
        yield browser
    finally:
        if browser is not None:
            browser.close()
        rc, err = serve.terminate()
    assert rc == 0 and "Traceback" not in err



@pytest.mark.slow
def test_page_shows_decoded_text_status_and_envelope(chromium, tiny_bundle, synth_session, tmp_path):  # noqa: F811
    with served_page(chromium, tmp_path / "profile", "--bundle", str(tiny_bundle.dir), "--replay", str(synth_session),
                     "--speed", "4", "--loop") as browser:
        assert browser.wait_for("document.getElementById('conn').textContent === 'server: connected'", "the connection")
        # Characters decoded while the page watches (not only the transcript it fetched on connect).
        assert browser.wait_for("Number(document.getElementById('chars').textContent) >= 2", "live characters")
        text = browser.eval("document.getElementById('text').textContent")
        assert text
        assert browser.wait_for("document.getElementById('stream').textContent === 'stream: running'", "the stream status")
        assert browser.wait_for("Number(document.getElementById('samples').textContent) > 0", "sample counts")
        # The envelope plot has drawn something: some canvas pixel is not transparent.
        drawn = "(() => { const c = document.getElementById('plot'); const d = c.getContext('2d')" \
                ".getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4)" \
                " if (d[i]) return true; return false; })()"
        assert browser.wait_for(drawn, "the envelope plot")
        assert browser.eval("document.getElementById('log').textContent") == ""  # no errors shown


@pytest.mark.slow
def test_the_wheel_ships_the_page_and_the_protocol_doc(tmp_path):
    """`pip install .` (not editable) must find the page: it is package data of emgrt.serve."""
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "CMakeLists.txt"):
        shutil.copy(root / name, src / name)
    shutil.copytree(root / "emgrt", src / "emgrt", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))).namelist()
    for f in ("index.html", "app.js", "style.css"):
        assert f"emgrt/serve/web/{f}" in names
    assert "emgrt/serve/PROTOCOL.md" in names
    assert {"emgrt/text/prompts.txt.gz", "emgrt/text/lm.txt.gz", "emgrt/text/LICENSE-WordNet"} <= set(names)
    assert any(n.startswith("emgrt/_native") for n in names)  # the native core is built into the wheel
    assert not any(n.endswith((".cpp", ".hpp")) for n in names)


@pytest.mark.slow
def test_page_shows_hypothesis_apart_from_committed_text_and_key_latencies(chromium, tmp_path):
    """The shipped bundle (char-lm: a hypothesis between commits) replaying its demo recording: the
    page shows the prompt, the hypothesis styled apart from the committed text, each key's stable
    latency and, when the replay ends, the summary."""
    root = Path(__file__).resolve().parents[1] / "models" / "default"
    with served_page(chromium, tmp_path / "profile", "--bundle", str(root), "--replay", str(root / "demo-session.hdf5"),
                     "--speed", "2", "--decoder", "char-lm") as browser:
        assert browser.wait_for("document.getElementById('prompt').textContent.length > 3", "the prompt")
        # A moment with both committed text and a hypothesis on screen, each in its own style.
        both = "(() => { const t = document.getElementById('text'), h = document.getElementById('hyp');" \
               " if (!t.textContent || !h.textContent) return null; const a = getComputedStyle(t), b = getComputedStyle(h);" \
               " return [a.color, a.fontStyle, b.color, b.fontStyle]; })()"
        styles = browser.wait_for(both, "committed text and a hypothesis together")
        assert styles[0] != styles[2] and styles[1] == "normal" and styles[3] == "italic"
        assert browser.wait_for("document.getElementById('keys').children.length >= 3", "key latencies")
        chip = browser.eval("document.getElementById('keys').children[0].title")
        assert "display" in chip and "stable" in chip and "commit" in chip
        assert browser.wait_for("/^\\d+$/.test(document.getElementById('stable50').textContent)", "the stable p50")
        summary = browser.wait_for("document.getElementById('summary').hidden ? '' : "
                                   "document.getElementById('summary').textContent", "the summary")
        assert "CER" in summary and "stable" in summary and "revisions" in summary
        assert browser.eval("document.getElementById('log').textContent") == ""


@pytest.mark.slow
def test_page_follows_the_band_chosen_in_its_menu(chromium, tiny_bundle, tmp_path):
    """`emgrt serve --stream A --stream B --web`: the page shows a band menu, follows the first band,
    and after choosing the other shows that band's text (each band decoded as it is alone)."""
    from emgrt.decode.events import apply_keys
    from emgrt.io.session import write_session
    from emgrt.lsl.outlet import SessionReplayer

    from conftest import make_session_arrays
    from test_lsl import unique
    from test_serve_bands import expected_keys

    # The tiny model types short, repetitive text, and a looped replay repeats it: pick two sessions
    # whose texts cannot be mistaken for each other however often either repeats.
    def distinct(a: str, b: str) -> bool:
        return bool(a and b) and a[:12] not in b * 3 and b[:12] not in a * 3

    paths, texts = [], []
    for seed in range(21, 41):
        path = write_session(tmp_path / f"{seed}.hdf5", **make_session_arrays(n=8000, seed=seed))
        text = apply_keys("", expected_keys(tiny_bundle, path))
        if all(distinct(text, t) for t in texts):
            paths.append(path)
            texts.append(text)
        if len(texts) == 2:
            break
    assert len(texts) == 2, f"no two distinguishable sessions among seeds 21-40: {texts}"
    names = [unique("web-a"), unique("web-b")]
    serve = ServeProcess("--bundle", str(tiny_bundle.dir), "--stream", names[0], "--stream", names[1],
                         "--resolve-timeout", "30", "--port", "0", "--ws-port", "0", "--web")
    reps = [SessionReplayer(p, n, speed=4, wait_for_consumer=60, loop=True) .start() for p, n in zip(paths, names)]
    browser = None
    try:
        ws = serve.wait_for("ws")["ws"]
        browser = Browser(chromium, tmp_path / "profile", f"http://{ws}/")
        menu = "document.getElementById('band')"
        assert browser.wait_for(f"!{menu}.hidden && {menu}.options.length === 2 && {menu}.value", "the band menu") == names[0]
        # The looped replay types its text over and over: the page shows the followed band's.
        assert browser.wait_for(f"document.getElementById('text').textContent.includes({json.dumps(texts[0][:12])})",
                                "band A's text")
        browser.eval(f"{menu}.value = {json.dumps(names[1])}; {menu}.dispatchEvent(new Event('change')); true")
        assert browser.wait_for(f"document.getElementById('text').textContent.includes({json.dumps(texts[1][:12])})",
                                "band B's text after choosing it")
        assert texts[0][:12] not in browser.eval("document.getElementById('text').textContent")
        assert browser.eval("document.getElementById('log').textContent") == ""
    finally:
        if browser is not None:
            browser.close()
        for r in reps:
            r.stop()
        rc, err = serve.terminate()
    assert rc == 0 and "Traceback" not in err


@pytest.mark.slow
def test_page_shows_the_gestures_of_a_gestures_bundle(chromium, tmp_path):
    """The shipped gestures bundle replaying its recording (a held-out user): the page lists the
    detected gestures as the server sends them, and draws the one band's envelope."""
    root = Path(__file__).resolve().parents[1] / "models" / "default-gestures"
    with served_page(chromium, tmp_path / "profile", "--bundle", str(root), "--replay", str(root / "demo-session.hdf5"),
                     "--speed", "2", "--loop") as browser:
        assert browser.wait_for("!document.getElementById('gestures-panel').hidden && "
                                "document.getElementById('gestures').children.length >= 3", "detected gestures")
        names = browser.eval("Array.from(document.getElementById('gestures').children).map((e) => e.firstChild.textContent)")
        from emgrt.io.gni import GESTURES

        assert names and all(n.replace(" ", "_") in GESTURES for n in names), names
        assert int(browser.eval("document.getElementById('gesture-count').textContent")) >= len(names)
        assert browser.eval("document.getElementById('text').textContent") == ""  # no text from a gestures bundle
        asked = browser.wait_for("document.getElementById('prompt').hidden ? '' : document.getElementById('prompt').textContent",
                                 "the gesture asked for")
        assert asked in GESTURES, asked
        assert browser.wait_for("!document.getElementById('plot-legend-one').hidden", "the one-band legend")
        assert browser.eval("document.getElementById('log').textContent") == ""

