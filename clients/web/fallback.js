/**
 * Listening where AudioWorklet does not exist — a page opened over plain HTTP from another machine
 * is not a secure context — through an `<audio>` element playing `/live.mp3`, while the stream
 * socket (`format=opus`, its packets left undecoded) brings the hello and the now_playing events.
 *
 * The position heard is estimated: `/live.mp3` starts about a second behind the live edge (its
 * pre-roll), so heard ≈ (live position when the MP3 was asked for − that second) + the element's
 * playing time. Same surface as listener.js's Listener: start(), stop(), heardPosition().
 */

import { decodePacket, parseHello, parseMessage, parseNowPlaying } from "./protocol.js";
import { stats } from "./stats.js";
import { showConnection, showListeningFigures, showStation } from "./page.js";
import { pageUrl, socketUrl } from "./urls.js";

const MP3_PREROLL_SECONDS = 1.0; // what /live.mp3 sends first: the last second before the live edge
const RECONNECT_MS = 2000;

function setState(state, detail = "") {
  stats.state = state;
  showConnection(state, detail);
}

export class Mp3Listener {
  /** @param {import("./timeline.js").Timeline} timeline */
  constructor(timeline) {
    this.timeline = timeline;
    this.stopped = false;
    this.hello = null;
    this.live = null; // {position, atMs}: the latest packet's position and when it came
    this.mp3Start = null; // stream position of the MP3's first sample (estimated)
  }

  /** Call from a user gesture. @returns {Promise<boolean>} false when the audio could not start */
  async start() {
    stats.format = "mp3";
    this.connect();
    this.audio = new Audio(pageUrl("live.mp3"));
    this.audio.preload = "none";
    this.audio.addEventListener("playing", () => setState("playing", "MP3 (this page is not a secure context)"));
    this.audio.addEventListener("waiting", () => setState("buffering"));
    this.audio.addEventListener("error", () => this.failed());
    this.audio.addEventListener("ended", () => this.failed());
    this.audio.addEventListener("timeupdate", () => this.update());
    this.askedAt = this.livePosition();
    setState("buffering");
    try {
      await this.audio.play();
    } catch (error) {
      if (this.stopped) return false;
      this.stop();
      setState("closed", `cannot start audio: ${error.message}`);
      return false;
    }
    return !this.stopped;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000);
    if (this.audio) {
      this.audio.pause();
      this.audio.removeAttribute("src");
      this.audio.load(); // drops the connection to /live.mp3
    }
    setState("stopped");
  }

  failed() {
    if (this.stopped) return;
    setState("reconnecting", "the MP3 stream ended; retrying");
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.mp3Start = null;
      this.askedAt = this.livePosition();
      this.audio.src = pageUrl("live.mp3");
      this.audio.play().catch(() => this.failed());
    }, RECONNECT_MS);
  }

  connect() {
    const socket = new WebSocket(socketUrl("stream?format=opus"));
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") {
        this.live = { position: decodePacket(event.data).position, atMs: performance.now() };
        return;
      }
      const message = parseMessage(event.data);
      if (message.type === "hello") {
        this.hello = parseHello(message);
        this.timeline.reset();
        stats.station = this.hello.station;
        stats.sampleRate = this.hello.sample_rate;
        showStation(this.hello.station);
      } else if (message.type === "now_playing") {
        this.timeline.add(parseNowPlaying(message));
      }
    };
    socket.onclose = () => {
      if (!this.stopped) this.retryTimer = setTimeout(() => this.connect(), RECONNECT_MS);
    };
    this.socket = socket;
  }

  /** The live edge now (stream samples), from the latest packet; null before the first. */
  livePosition() {
    if (!this.live || !this.hello) return null;
    return this.live.position + ((performance.now() - this.live.atMs) / 1000) * this.hello.sample_rate;
  }

  update() {
    const rate = this.hello?.sample_rate ?? 44100;
    stats.playedSamples = Math.round(this.audio.currentTime * rate);
    if (this.mp3Start === null) {
      const asked = this.askedAt ?? this.livePosition();
      if (asked !== null) this.mp3Start = asked - MP3_PREROLL_SECONDS * rate;
    }
    stats.playedPosition = this.heardPosition();
    showListeningFigures(stats, this.audio.currentTime);
  }

  /** @returns {number|null} the stream position being heard (estimated), null when not playing */
  heardPosition() {
    if (this.mp3Start === null || !this.hello || !this.audio || this.audio.paused) return null;
    return this.mp3Start + this.audio.currentTime * this.hello.sample_rate;
  }
}
