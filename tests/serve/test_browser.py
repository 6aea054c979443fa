"""The web page in a real headless Chromium: typing shows the API's suggestions, Tab inserts the first one,
and the classify tab shows the API's label. The server runs under uvicorn on a free loopback port."""

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

pytestmark = pytest.mark.usefixtures("one_thread")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SUGGESTED = "[...document.querySelectorAll('#suggestions .suggestion')].map(b => b.dataset.word).join('|')"


@pytest.fixture
def live_url(make_app):
    """The base URL of the app served by uvicorn in a thread, on a port the OS picked."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(make_app(), log_level="warning"))
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


@pytest.fixture
def page(live_url):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run make install (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(10_000)
        page.goto(live_url)
        yield page
        browser.close()


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
