"""The browser player (``riffcast.web``) in real headless Chromium against a real station.

Debian's ``chromium`` must be on PATH: Playwright drives it through ``executable_path`` and
never downloads a browser. Without it these tests fail (CI installs it).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from typing import Iterator

import numpy as np
import pytest
import soundfile
from playwright.sync_api import Browser, Page

from benchmarks.harness import browser as chromium
from benchmarks.harness.alignment import align
from benchmarks.harness.browser import capture_audio, wait_for

from station import TOKEN, running_station

pytestmark = pytest.mark.system

SAMPLE_RATE = 44100
CHUNK_SAMPLES = 512 * 441
PLAY_SECONDS = 4.0
STEER_PROMPT = "glass harmonica test steer"
CAPTURE_S = 3.0  # of the page's audio after a rewind, cross-correlated with the recording
ALIGNED_WITHIN_S = 0.005  # the Opus decoder's delay is 6.5 ms at 48 kHz, the station's encoder lines it up


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    with running_station(folder, "--record", str(folder / "aired.wav")) as running:
        running.recording = folder / "aired.wav"
        yield running


@contextlib.contextmanager
def headless_chromium(*extra_args: str) -> Iterator[Browser]:
    """The benchmarks' launcher, in the test body, not as a fixture, so that a missing browser fails the test."""
    if chromium.chromium_executable() is None:
        pytest.fail(chromium.MISSING, pytrace=False)
    with chromium.headless_chromium(*extra_args) as browser:
        yield browser


def stats(page: Page) -> dict:
    return page.evaluate("({...window.riffcast.stats})")


def listen(page: Page, seconds: float) -> tuple[int, float, dict]:
    """Samples played over about ``seconds``, the seconds that took on the page's own clock
    (``performance.now()``, read in the same evaluate as the stats, so that a slow DevTools round
    trip on a loaded machine counts on neither side), and the stats after."""
    snapshot = "({stats: {...window.riffcast.stats}, nowMs: performance.now()})"
    before = page.evaluate(snapshot)
    page.wait_for_timeout(seconds * 1000)
    after = page.evaluate(snapshot)
    played = after["stats"]["playedSamples"] - before["stats"]["playedSamples"]
    return played, (after["nowMs"] - before["nowMs"]) / 1000, after["stats"]


def test_page_plays_the_stream_without_gaps_and_steers(station):
    with headless_chromium() as browser:
        check_playing_and_steering(station, browser.new_page())


def test_page_plays_pcm_where_it_is_asked_for(station):
    with headless_chromium() as browser:
        page = browser.new_page()
        page.goto(f"{station.http}/")
        page.evaluate("window.riffcast.options.format = 's16le'")  # what a browser without WebCodecs gets
        page.click("#play")
        wait_for(page, "window.riffcast.stats.state === 'playing'", timeout=15_000)
        played, elapsed, after = listen(page, 2.0)
        assert after["format"] == "s16le"
        assert played >= 0.85 * SAMPLE_RATE * elapsed, (played, elapsed, after)
        assert after["gaps"] == 0, after


def test_page_from_another_machine_plays_live_mp3(station):
    """Over plain HTTP off localhost a page is not a secure context (no AudioWorklet): the player
    falls back to /live.mp3 in an <audio> element, with now playing from the stream socket."""
    with headless_chromium("--host-resolver-rules=MAP radio.test 127.0.0.1") as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.goto(f"http://radio.test:{station.port}/")
        assert page.evaluate("window.isSecureContext") is False
        page.click("#play")
        wait_for(page, "window.riffcast.stats.state === 'playing'", timeout=20_000)
        played, elapsed, after = listen(page, 3.0)
        assert after["format"] == "mp3" and after["station"] == station.health()["station"]
        assert played >= 0.8 * SAMPLE_RATE * elapsed, (played, elapsed, after)
        wait_for(page, "window.riffcast.stats.nowPlaying !== null", timeout=10_000)
        assert page.inner_text("#now-playing-prompts").strip()
        assert errors == [], errors


def test_the_page_lists_what_aired_in_the_last_hour_with_pictures(station):
    with headless_chromium() as browser:
        page = browser.new_page()
        page.goto(f"{station.http}/")
        wait_for(page, "document.querySelectorAll('#history-list li').length > 0", timeout=15_000)
        assert page.is_hidden("#history-empty")
        newest = page.inner_text("#history-list li:first-child")
        assert "seed " in newest and newest.strip().split()[0].count(":") >= 1, newest  # a time, then what played
        wait_for(page, "[...document.querySelectorAll('#history-list img')].some(i => i.complete && i.naturalWidth > 0)",
                 timeout=15_000)  # the newest segments' pictures, while the station holds them


def test_the_page_rewinds_30_s_plays_on_from_there_and_goes_back_to_live(station):
    """"−30 s" starts the stream again 30 s back in the station's rewind window (``/stream?from=``):
    the page plays on from there, in order and at real time, 30 s behind live; "Live" plays live
    again. Positions are the frames' own (the page's ``playedPosition``), live is ``/window``'s end.
    What the page sends to the output after the rewind is what the station's recording holds at the
    positions the page says it plays: the cross-correlation's peak within a few ms of them."""
    def live_end() -> int:
        with urllib.request.urlopen(f"{station.http}/window", timeout=5) as response:
            return json.loads(response.read())["end"]

    deadline = time.monotonic() + 60
    while (window := json.loads(urllib.request.urlopen(f"{station.http}/window", timeout=5).read()))["first"] is None \
            or window["end"] - window["first"] < 33 * SAMPLE_RATE:  # the window must reach 30 s back
        assert time.monotonic() < deadline, window
        time.sleep(0.5)
    rate, snapshot = SAMPLE_RATE, "({stats: {...window.riffcast.stats}, nowMs: performance.now()})"
    with headless_chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.goto(f"{station.http}/")
        page.click("#play")
        wait_for(page, "window.riffcast.stats.state === 'playing' && !document.getElementById('back-30').disabled",
                 timeout=15_000)
        assert page.text_content("#behind") == "live"
        heard = page.evaluate("window.riffcast.stats.playedPosition")
        page.click("#back-30")
        asked = page.evaluate("window.riffcast.stats.from")
        assert asked is not None and abs(asked - (heard - 30 * rate)) < 0.5 * rate, (heard, asked)
        wait_for(page, "(limit) => window.riffcast.stats.state === 'playing' && window.riffcast.stats.playedPosition "
                       "!== null && window.riffcast.stats.playedPosition < limit", heard - 20 * rate, timeout=15_000)
        before = page.evaluate(snapshot)
        captured = capture_audio(page, CAPTURE_S)  # about as long on the page's clock
        after = page.evaluate(snapshot)
        elapsed_s = (after["nowMs"] - before["nowMs"]) / 1000
        moved = after["stats"]["playedPosition"] - before["stats"]["playedPosition"]
        # From there: the first frame is the one that holds the asked position (an Opus packet starts up to
        # 882 samples, a PCM frame up to 4410, before it), so playback may begin a frame early.
        assert asked - 4410 <= before["stats"]["playedPosition"] < asked + 5 * rate, (asked, before)
        assert 0.85 * elapsed_s * rate <= moved <= 1.1 * elapsed_s * rate, (moved, elapsed_s)  # on, at real time
        behind_s = (live_end() - after["stats"]["playedPosition"]) / rate
        assert 28 <= behind_s <= 34 and 28 <= after["stats"]["behindLiveS"] <= 34, (behind_s, after["stats"])
        assert after["stats"]["queuedMs"] > 25_000 and after["stats"]["droppedMs"] == before["stats"]["droppedMs"]
        assert after["stats"]["gaps"] == 0 and "behind live" in page.text_content("#behind")
        check_heard_as_recorded(captured, station.recording, asked)
        scrub = page.evaluate("(bar => ({min: Number(bar.min), max: Number(bar.max), value: Number(bar.value)}))"
                              "(document.getElementById('scrub'))")
        assert scrub["min"] <= scrub["value"] < scrub["max"] - 25 * rate, scrub  # the bar shows where it plays
        target = scrub["value"] - 2 * rate  # the scrub bar, released 2 s further back
        page.evaluate("(value) => { const bar = document.getElementById('scrub'); bar.value = String(value); "
                      "bar.dispatchEvent(new Event('change')); }", target)
        assert abs(page.evaluate("window.riffcast.stats.from") - target) <= 1, target
        wait_for(page, "(limit) => window.riffcast.stats.state === 'playing' && window.riffcast.stats.playedPosition "
                       "!== null && window.riffcast.stats.playedPosition < limit", target + 2 * rate, timeout=15_000)
        page.click("#live")
        wait_for(page, "(limit) => window.riffcast.stats.from === null && window.riffcast.stats.state === 'playing' "
                       "&& window.riffcast.stats.playedPosition > limit", after["stats"]["playedPosition"] + 20 * rate,
                 timeout=15_000)
        page.wait_for_timeout(1000)
        played = page.evaluate("window.riffcast.stats.playedPosition")
        assert abs(live_end() - played) < 2 * rate, (live_end(), played)  # live again
        assert page.text_content("#behind") == "live" and errors == []


def test_control_needs_the_right_token(station):
    with headless_chromium() as browser:
        check_token_handling(station, browser.new_page())


def test_the_token_is_in_no_url_and_the_page_keeps_its_content_security_policy(station):
    with headless_chromium() as browser:
        check_token_stays_out_of_urls(station, browser.new_page())


ACK = """() => {
    const result = document.getElementById('steer-result');
    return { text: result.textContent.trim(), position: Number(result.dataset.position),
             playedPosition: window.riffcast.stats.playedPosition };
}"""


def check_playing_and_steering(station, page: Page) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.goto(f"{station.http}/#token={TOKEN}")
    # Before the first picture: words in its place, never a broken-image icon (an <img> without a picture).
    assert not page.is_visible("#spectrogram") and page.get_attribute("#spectrogram", "src") is None
    assert "appears here once you press Play" in page.inner_text("#spectrogram-waiting")
    page.click("#play")
    wait_for(page, "window.riffcast.stats.state === 'playing'", timeout=15_000)

    # Real-time playback: what the worklet played over a window of the page's clock, no gaps, no underruns.
    played, elapsed, after = listen(page, PLAY_SECONDS)
    assert 0.85 * SAMPLE_RATE * elapsed <= played <= 1.15 * SAMPLE_RATE * elapsed, (played, elapsed, after)
    assert after["format"] == "opus", after  # Chromium decodes Opus with WebCodecs
    assert after["gaps"] == 0, after
    assert after["underruns"] == 0, after
    assert after["framesReceived"] >= 0.8 * elapsed * 50, after  # 20 ms Opus packets
    assert after["station"] == station.health()["station"]
    assert errors == [], errors

    # The picture being heard: a /chunks/….png that loaded, with the playhead where the audio is.
    wait_for(page, 
        "(() => { const img = document.getElementById('spectrogram');"
        " return img.complete && img.naturalWidth > 0 && !document.getElementById('playhead').hidden; })()",
        timeout=10_000,
    )
    assert page.is_visible("#spectrogram") and not page.is_visible("#spectrogram-waiting")
    assert re.fullmatch(r"\d+:\d\d\.\d of the stream", page.inner_text("#now-playing-position")), \
        page.inner_text("#now-playing-position")  # a stream time, not a sample position
    picture = page.evaluate(
        """() => {
            const img = document.getElementById('spectrogram');
            const { playedPosition, nowPlaying } = window.riffcast.stats;
            return { src: img.src, width: img.naturalWidth, height: img.naturalHeight,
                     left: parseFloat(document.getElementById('playhead').style.left) / 100,
                     playedPosition, nowPlaying };
        }"""
    )
    assert re.search(r"/chunks/[0-9a-z]+/\d+\.png$", picture["src"]), picture  # /chunks/<run>/<position>.png
    assert picture["src"].endswith(picture["nowPlaying"]["image"]), picture
    assert (picture["width"], picture["height"]) == (512, 512), picture
    expected = (picture["playedPosition"] - picture["nowPlaying"]["position"]) / CHUNK_SAMPLES
    assert abs(picture["left"] - expected) < 0.05, (picture, expected)
    assert page.inner_text("#now-playing-prompts").strip()

    # Steer from the page; the prompt is heard after the station's lead, counted down in seconds.
    assert page.input_value("#transition") == "2"  # the form's own default, not the station's 4 (form.js)
    page.fill("#prompt-0-text", STEER_PROMPT)
    page.fill("#prompt-0-weight", "1")
    page.click("#steer")
    wait_for(page, "document.getElementById('steer-result').dataset.position !== undefined", timeout=15_000)
    ack = page.evaluate(ACK)
    match = re.fullmatch(rf"“{STEER_PROMPT}” heard (?:in (\d+\.\d) s|now)", ack["text"])
    assert match and "position" not in ack["text"], ack
    position = ack["position"]
    lead_s = (position - ack["playedPosition"]) / SAMPLE_RATE
    assert abs(float(match.group(1) or 0) - max(0.0, lead_s)) < 1.0, ack  # the countdown is the time to wait
    if match.group(1) and float(match.group(1)) > 1.5:  # still counting down a second later
        page.wait_for_timeout(1000)
        later = re.fullmatch(rf"“{STEER_PROMPT}” heard (?:in (\d+\.\d) s|now)", page.evaluate(ACK)["text"])
        assert later and float(later.group(1) or 0) < float(match.group(1)), (ack, later)
    wait_for(page, 
        "text => window.riffcast.stats.nowPlaying?.prompts.some(p => p.text === text)",
        arg=STEER_PROMPT,
        timeout=90_000,
    )
    # The image that brings the steer starts playing at or before its ack (the first beat in or after
    # it, for the synth): the countdown reaches "heard now" within a beat or so.
    wait_for(page, "text => document.getElementById('steer-result').textContent === text",
             arg=f"“{STEER_PROMPT}” heard now", timeout=3_000)
    heard = stats(page)
    assert STEER_PROMPT in page.inner_text("#now-playing-prompts")
    # The steer's first image: the ack is the first beat in or after it (at most a beat later).
    assert 0 <= position - heard["nowPlaying"]["position"] <= 1.5 * SAMPLE_RATE, (heard, ack)
    assert heard["playedPosition"] >= position - 0.2 * SAMPLE_RATE, (heard, ack)
    # Shown when heard, not when the event arrived ahead of the audio.
    assert heard["playedPosition"] >= heard["nowPlaying"]["position"] - 0.2 * SAMPLE_RATE, heard
    assert heard["gaps"] == 0, heard
    assert errors == [], errors


def check_token_handling(station, page: Page) -> None:
    page.goto(f"{station.http}/")
    assert "needs the station's control token" in page.inner_text("#control-state")
    assert page.is_disabled("#steer")

    page.fill("#token", "not-the-token")
    page.click("#token-apply")
    wait_for(page, "document.getElementById('control-state').textContent === 'wrong token'", timeout=10_000)

    page.fill("#token", TOKEN)
    page.click("#token-apply")
    wait_for(page, "document.getElementById('control-state').textContent === 'connected'", timeout=10_000)
    wait_for(page, "document.getElementById('station-status').textContent.startsWith('Station:')",
                           timeout=10_000)
    assert page.input_value("#prompt-0-text")  # the form starts from the station's settings
    assert page.input_value("#transition") == "2"  # but a steer from the page blends in over 2 chunks (form.js)


CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


def check_token_stays_out_of_urls(station, page: Page) -> None:
    """The player sends the token in the Sec-WebSocket-Protocol header, never in a URL (proxies log
    URLs), and plays and steers under its Content-Security-Policy without one violation."""
    errors: list[str] = []
    requests: list[str] = []
    sockets: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.add_init_script(CSP_VIOLATIONS)

    response = page.goto(f"{station.http}/#token={TOKEN}")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy, policy
    assert response.headers["x-content-type-options"] == "nosniff"
    wait_for(page, "document.getElementById('control-state').textContent === 'connected'", timeout=10_000)
    wait_for(page, "document.getElementById('station-status').textContent.startsWith('Station:')",
                           timeout=10_000)
    page.click("#play")  # the worklet module and the pictures load under the policy too
    wait_for(page, "window.riffcast.stats.state === 'playing'", timeout=15_000)
    wait_for(page, 
        "(() => { const img = document.getElementById('spectrogram'); return img.complete && img.naturalWidth > 0; })()",
        timeout=10_000,
    )

    control = [url for url in sockets if url.split("?")[0].endswith("/control")]
    assert control, sockets
    sent = [url.split("#")[0] for url in requests + sockets]  # a fragment never leaves the browser
    assert not [url for url in sent if "token=" in url or TOKEN in url], sent
    assert page.evaluate("window.cspViolations") == []
    assert errors == [], errors


def check_heard_as_recorded(captured, recording, asked: float) -> None:
    """The page's longest stretch played in order (≥ 1 s of the 3 s captured: an underrun under load
    may cut it) begins no earlier than the frame that holds ``asked`` (up to 4410 samples before it) and
    is the recording at the positions it claims: the peak
    of the normalized cross-correlation over ±1.5 s within :data:`ALIGNED_WITHIN_S`, well above any
    other lag's (the synth's music repeats, so an offset by a beat correlates too, but less)."""
    first, heard = captured.longest_run()
    assert heard.size >= captured.sample_rate and first >= asked - 4410, (first, heard.size, asked)
    recorded, rate = soundfile.read(recording, dtype="float32")  # readable while the station writes it
    assert rate == SAMPLE_RATE
    found = align(heard, first, captured.step, recorded, SAMPLE_RATE, 1.5)
    assert abs(found.lag_samples) <= ALIGNED_WITHIN_S * SAMPLE_RATE, found
    assert found.coefficient >= 0.9 and found.runner_up < found.coefficient - 0.1, found
    assert np.isclose(found.at_claimed, found.coefficient, atol=0.05), found
