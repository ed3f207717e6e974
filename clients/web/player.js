/**
 * riffcast browser player: the page's entry point, which wires the modules together.
 *
 * Plays a station's `riffcast/1` stream (Opus where WebCodecs decodes it, else s16le) through an
 * AudioWorklet ring buffer (listener.js, opus.js, worklet.js) — or, where the page is not a
 * secure context, `/live.mp3` in an `<audio>` element (fallback.js) — shows the spectrogram of
 * the chunk being heard with a moving playhead (timeline.js, now-playing.js), and steers the station over the control socket when the page
 * knows the token (control.js, form.js), lists the last hour aired (history.js), and rewinds within
 * the station's window: −30 s, Live and a scrub bar (rewind.js). The wire
 * format is in protocol.js.
 *
 * Every URL is relative to the page (urls.js), so the player also works behind a reverse-proxy
 * prefix. Test hooks: `window.riffcast.stats` (figures, read-only) and `window.riffcast.options`
 * (audio settings, read when Play is pressed), from stats.js; `window.riffcast.capture(seconds)`,
 * the samples the player sends to the output next and their stream positions (listener.js).
 */

import { Control } from "./control.js";
import { SteerForm } from "./form.js";
import { Mp3Listener } from "./fallback.js";
import { watchHistory } from "./history.js";
import { Listener } from "./listener.js";
import { drawPlayhead, prefetchPicture, shownPictureSamples, showNowPlaying } from "./now-playing.js";
import { $, showControlState, showStationStatus } from "./page.js";
import { Rewind } from "./rewind.js";
import { options, resetListeningStats, stats, streamSampleRate } from "./stats.js";
import { Timeline } from "./timeline.js";

window.riffcast = { stats, options };

/** The token in the page's fragment (`#token=…`), which never reaches a server. */
function tokenFromHash() {
  // "+" is a token character, not a space here.
  return new URLSearchParams(location.hash.slice(1).replaceAll("+", "%2B")).get("token") ?? "";
}

function main() {
  const timeline = new Timeline({
    onUpcoming: prefetchPicture,
    onShow: (event) => {
      stats.nowPlaying = event;
      showNowPlaying(event);
    },
  });
  let listener = null;
  const rewind = new Rewind(() => listener);
  window.riffcast.capture = (seconds) => listener?.capture?.(seconds) ?? Promise.reject(new Error("no worklet playing"));
  const control = new Control({ onState: showControlState });
  const form = new SteerForm(control, {
    heardPosition: () => listener?.heardPosition(),
    sampleRate: streamSampleRate,
  });
  control.onStatus = (status) => {
    showStationStatus(status);
    form.fill(status);
  };

  const play = $("play");
  play.addEventListener("click", async () => {
    if (listener) {
      listener.stop();
      listener = null;
      play.textContent = "Play";
      return;
    }
    resetListeningStats();
    // AudioWorklet exists only in secure contexts (HTTPS, localhost): elsewhere, /live.mp3.
    const secure = window.isSecureContext && typeof AudioWorkletNode !== "undefined";
    const starting = secure ? new Listener(timeline) : new Mp3Listener(timeline);
    listener = starting;
    play.textContent = "Stop";
    if (!(await starting.start()) && listener === starting) {
      listener = null; // the audio could not start
      play.textContent = "Play";
    }
  });
  play.disabled = false;

  const token = $("token");
  const useToken = (value) => {
    form.allowSteering(Boolean(value));
    control.setToken(value);
  };
  token.value = tokenFromHash();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    useToken(token.value.trim());
  });
  window.addEventListener("hashchange", () => {
    token.value = tokenFromHash();
    useToken(token.value);
  });
  useToken(token.value);

  const draw = () => {
    const heard = listener?.heardPosition() ?? null;
    if (heard !== null) timeline.update(heard);
    if (heard !== null) form.tick(heard);
    rewind.tick(heard);
    drawPlayhead(timeline.playheadFraction(heard, shownPictureSamples(streamSampleRate())));
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
  watchHistory();
  rewind.watch();
}

main();
