"""The web page in a real headless Chromium: typing shows the API's suggestions, Tab inserts the first one,
the classify tab shows the API's label, and the music tab draws a streamed piece and offers its MIDI file.
The server runs under uvicorn on a free loopback port."""

import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from rnnkit.pipeline import from_checkpoint
from rnnkit.serve import Settings, create_app

pytestmark = pytest.mark.usefixtures("one_thread")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SUGGESTED = "[...document.querySelectorAll('#suggestions .suggestion')].map(b => b.dataset.word).join('|')"


@contextmanager
def serving(app):
    """The base URL of ``app`` served by uvicorn in a thread, on a port the OS picked."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 10 s"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@contextmanager
def browsing(url):
    """A page of headless Chromium open at ``url``."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run make install (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(10_000)
        page.goto(url)
        yield page
        browser.close()


@pytest.fixture
def live_url(make_app):
    """The base URL of the two trained pipelines' app, served by uvicorn."""
    with serving(make_app()) as url:
        yield url


@pytest.fixture
def page(live_url):
    with browsing(live_url) as page:
        yield page


def api_words(url: str, text: str, scorer: str | None = None) -> str:
    answer = httpx.post(f"{url}/v1/lm/complete", json={"text": text, "k": 3, "scorer": scorer}).json()
    return "|".join(s["word"] for s in answer["suggestions"])


def test_typing_shows_the_suggestions_and_tab_accepts(page, live_url):
    page.click("#typing")
    page.keyboard.type("the ca", delay=20)
    expected = api_words(live_url, "the ca")
    assert expected  # the model suggests something after "the ca"
    page.wait_for_function(f"expected => {SUGGESTED} === expected", arg=expected)
    page.keyboard.press("Tab")
    first = expected.split("|")[0]
    assert page.input_value("#typing") == f"the {first} "
    after = api_words(live_url, f"the {first} ")
    page.wait_for_function(f"expected => {SUGGESTED} === expected", arg=after)
    assert page.evaluate(SUGGESTED) == after


def test_the_scorer_menu_offers_the_runs_scorers(page, live_url):
    options = "[...document.querySelectorAll('#scorer option')].map(o => o.value).join('|')"
    page.wait_for_function(f"() => {options} === 'rnn|ngram|mixture'")
    assert page.input_value("#scorer") == "mixture"  # the model's default, as GET /v1/models gives it
    page.select_option("#scorer", "ngram")
    page.click("#typing")
    page.keyboard.type("the ", delay=20)
    expected = api_words(live_url, "the ", scorer="ngram")
    assert expected != api_words(live_url, "the ", scorer="rnn")  # the choice shows
    page.wait_for_function(f"expected => {SUGGESTED} === expected", arg=expected)


def test_the_classify_tab_shows_the_label(page, live_url):
    page.get_by_role("tab", name="Classify").click()
    page.fill("#classify-text", "the plot was good")
    page.click("#classify-go")
    label = httpx.post(f"{live_url}/v1/classify/classify", json={"text": "the plot was good"}).json()["label"]
    page.wait_for_function("label => document.getElementById('label').textContent === 'label: ' + label", arg=label)
    assert page.locator("#bars .bar").count() == 2


@pytest.fixture(scope="module")
def music_url(tmp_path_factory):
    """The base URL of an app serving a music run trained for a few updates on toy chorales."""
    from rnnkit.tasks.run import make_config, train

    root = tmp_path_factory.mktemp("music-page")
    chords = [[60, 64, 67], [62, 65, 69], [64, 67, 71], [65, 69, 72]]
    pieces = [[chords[(i + t // 2) % 4] for t in range(16)] for i in range(12)]
    (root / "toy.json").write_text(json.dumps({"train": pieces[:8], "valid": pieces[8:10], "test": pieces[10:]}))
    cfg = make_config("music", overrides=["model.encoder.hidden_size=16", "model.encoder.num_layers=1",
                                          "model.nade_hidden=8", "data.batch_size=4", "train.steps=10",
                                          "train.eval_every=10", "train.progress=false"])
    train("music", cfg, out=root / "run", data=str(root / "toy.json"))
    with serving(create_app([("chorales", from_checkpoint(root / "run"))], Settings(allowed_dirs=(root,)))) as url:
        yield url


BLUE_PIXELS = """() => {
  const c = document.getElementById('music-roll'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] === 9 && d[i + 1] === 105 && d[i + 2] === 218) n++;
  return n;
}"""
DOWNLOADED = """async () => {
  const bytes = new Uint8Array(await (await fetch(document.getElementById('music-download').href)).arrayBuffer());
  return btoa(String.fromCharCode(...bytes));
}"""


def test_the_music_tab_draws_the_streamed_piece_and_offers_its_midi_file(music_url):
    from rnnkit.tasks.music.audio import audio_available

    with browsing(music_url) as page:
        page.get_by_role("tab", name="Music").click()
        page.wait_for_function("() => document.getElementById('music-length').value === '16'")  # the run's default
        page.fill("#music-length", "16")
        page.select_option("#music-unit", "steps")
        page.fill("#music-seed", "4")
        page.click("#music-go")
        page.wait_for_selector("#music-download:not([hidden])")
        expected = httpx.post(f"{music_url}/v1/music/generate", json={"length": 16, "unit": "steps", "seed": 4},
                              timeout=30).json()
        assert page.evaluate(DOWNLOADED) == expected["midi"]  # the same seed, the same piece
        assert page.text_content("#music-status") == "step 16 of 16"
        assert (page.evaluate(BLUE_PIXELS) > 0) == any(expected["piece"])  # each sampled note drawn in blue
        assert page.is_visible("#music-audio") == audio_available()
