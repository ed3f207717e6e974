/**
 * riffcast browser player.
 *
 * Plays a station's `riffcast/1` stream (see DESIGN.md) through an AudioWorklet ring buffer
 * (worklet.js), shows the spectrogram of the chunk being heard with a moving playhead, and
 * steers the station over the control socket when the page knows the token.
 *
 * Every URL is relative to the page, so the player also works behind a reverse-proxy prefix.
 * Test hooks: `window.riffcast.stats` (figures, read-only) and `window.riffcast.options`
 * (audio settings, read when Play is pressed).
 */

const PROTOCOL = "riffcast/1";
const HEADER_BYTES = 16; // uint64 position, float64 server time, little-endian
const COLUMN_SECONDS = 0.01; // one spectrogram column: Riffusion's hop of 441 samples at 44.1 kHz
const POLICY_VIOLATION = 1008; // the station closed us on purpose: reconnecting would not help
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 10_000;
const REQUEST_TIMEOUT_MS = 10_000;
const STATUS_EVERY_MS = 5_000;
// The token travels in the Sec-WebSocket-Protocol header, never in a URL (proxies log URLs).
const CONTROL_SUBPROTOCOL = "riffcast-control";
const BEARER_PREFIX = "bearer.";
const JITTER_SECONDS = 0.05; // network jitter the pre-fill absorbs on top of one frame

const options = {
  sampleRate: 44100, // asked of the AudioContext; other rates are resampled
  prefillSeconds: 0.15,
  maxLatencySeconds: 0.5,
  capacitySeconds: 2,
};

const stats = {
  state: "idle", // idle | connecting | buffering | playing | reconnecting | closed | stopped
  station: null,
  sampleRate: null, // the stream's, from hello
  framesReceived: 0,
  gaps: 0, // frames whose position was not the previous frame's next position
  gapSamples: 0,
  playedSamples: 0, // samples the worklet handed to the audio output
  playedPosition: null, // stream position of the next sample to be played
  bufferedMs: 0,
  underruns: 0, // after the first pre-fill
  droppedMs: 0, // dropped to keep latency bounded
  nowPlaying: null, // the now_playing event being heard
};

window.riffcast = { stats, options };

const $ = (id) => document.getElementById(id);

/** URL of `path` relative to the page; a leading "/" is kept under the page's prefix. */
function pageUrl(path) {
  return new URL(path.replace(/^\/(?!\/)/, ""), document.baseURI);
}

function socketUrl(path) {
  const url = pageUrl(path);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

function setState(state, detail = "") {
  stats.state = state;
  $("connection").textContent = detail ? `${state}: ${detail}` : state;
  $("connection").dataset.state = state;
}

// ---------------------------------------------------------------------------------------------
// Listening: stream socket → resampler (if needed) → worklet ring buffer

/** Mono float32 samples of a binary frame; s16le and several channels are converted. */
function decodeFrame(buffer, { format, channels }) {
  const position = Number(new DataView(buffer).getBigUint64(0, true));
  const raw = format === "s16le" ? new Int16Array(buffer, HEADER_BYTES) : new Float32Array(buffer, HEADER_BYTES);
  const scale = format === "s16le" ? 1 / 32767 : 1;
  if (channels === 1 && scale === 1) return { position, samples: raw };
  const samples = new Float32Array(raw.length / channels);
  for (let i = 0; i < samples.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += raw[i * channels + c];
    samples[i] = (sum * scale) / channels;
  }
  return { position, samples };
}

/**
 * Worklet sizes for frames of `frameSeconds`: the pre-fill must outlast the wait for the next
 * frame, and the latency cap must leave room for a frame on top of it.
 */
function ringSettings(frameSeconds) {
  const prefillSeconds = Math.max(options.prefillSeconds, frameSeconds + JITTER_SECONDS);
  const maxLatencySeconds = Math.max(options.maxLatencySeconds, prefillSeconds + 2 * frameSeconds);
  const capacitySeconds = Math.max(options.capacitySeconds, maxLatencySeconds + 2 * frameSeconds);
  return { prefillSeconds, maxLatencySeconds, capacitySeconds };
}

/** Linear-interpolation resampler for a stream cut in frames; `step` = input per output sample. */
class Resampler {
  constructor(step) {
    this.step = step;
    this.reset();
  }

  reset() {
    this.phase = 0; // input index of the next output sample, relative to the next frame (≥ −1)
    this.previous = 0; // last input sample of the previous frame
  }

  /** Output samples for one input frame, and the stream position of the first of them. */
  process(input, position) {
    const count = Math.max(0, Math.ceil((input.length - 1 - this.phase) / this.step));
    const output = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const t = this.phase + i * this.step;
      const k = Math.floor(t);
      const a = k < 0 ? this.previous : input[k];
      output[i] = a + (t - k) * (input[k + 1] - a);
    }
    const first = position + this.phase;
    this.phase += count * this.step - input.length;
    this.previous = input[input.length - 1];
    return { samples: output, position: first };
  }
}

class Listener {
  constructor(timeline) {
    this.timeline = timeline;
    this.stopped = false;
    this.socket = null;
    this.format = null; // the hello message
    this.nextPosition = null; // the previous frame's position + its samples
    this.backoffMs = RECONNECT_MIN_MS;
    this.retryTimer = null;
    this.lastReport = null;
  }

  /** Call from a user gesture (a click): browsers only let audio start from one. */
  async start() {
    this.context = new AudioContext({ sampleRate: options.sampleRate });
    await this.context.audioWorklet.addModule(pageUrl("static/worklet.js"));
    await this.context.resume();
    if (!this.stopped) this.connect();
  }

  /** The ring-buffer node, made at the first hello: its sizes follow the frame length. */
  createNode(frameSeconds) {
    this.node = new AudioWorkletNode(this.context, "riffcast-ring", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: ringSettings(frameSeconds),
    });
    this.node.port.onmessage = (event) => this.report(event.data);
    this.node.connect(this.context.destination);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000);
    this.context?.close();
    setState("stopped");
  }

  connect() {
    setState("connecting");
    const socket = new WebSocket(socketUrl("stream?format=f32le"));
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.text(JSON.parse(event.data));
      else this.frame(event.data);
    };
    socket.onclose = (event) => this.closed(event);
    this.socket = socket;
    this.format = null;
  }

  closed(event) {
    if (this.stopped) return;
    const reason = event.reason ? ` ${event.reason}` : "";
    if (event.code === POLICY_VIOLATION) {
      setState("closed", `the station closed the stream (${event.code}${reason})`);
      return;
    }
    const delay = this.backoffMs;
    this.backoffMs = Math.min(2 * delay, RECONNECT_MAX_MS);
    setState("reconnecting", `connection lost (${event.code}${reason}), retrying in ${delay / 1000} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  text(message) {
    if (message.type === "hello") this.hello(message);
    else if (message.type === "now_playing") this.timeline.add(message);
  }

  hello(hello) {
    if (hello.protocol !== PROTOCOL || !["f32le", "s16le"].includes(hello.format)) {
      this.stopped = true;
      this.socket.close(1000);
      setState("closed", `cannot play ${hello.protocol} in ${hello.format}`);
      return;
    }
    this.timeline.reset(); // after a reconnect the station may have restarted: positions begin again
    if (!this.node) this.createNode(hello.frame_samples / hello.sample_rate);
    this.format = hello;
    this.backoffMs = RECONNECT_MIN_MS;
    this.step = hello.sample_rate / this.context.sampleRate;
    this.resampler = this.step === 1 ? null : new Resampler(this.step);
    stats.station = hello.station;
    stats.sampleRate = hello.sample_rate;
    $("station").textContent = hello.station;
    document.title = `${hello.station} · riffcast`;
    setState(this.lastReport?.playing ? "playing" : "buffering");
  }

  frame(buffer) {
    if (!this.format) return; // audio before hello is not riffcast/1
    const { position, samples } = decodeFrame(buffer, this.format);
    stats.framesReceived++;
    if (this.nextPosition !== null && position !== this.nextPosition) {
      stats.gaps++;
      stats.gapSamples += position - this.nextPosition;
      this.resampler?.reset();
    }
    this.nextPosition = position + samples.length;
    const out = this.resampler ? this.resampler.process(samples, position) : { samples, position };
    this.node.port.postMessage({ type: "samples", ...out, step: this.step }, [out.samples.buffer]);
  }

  report(report) {
    const rate = this.context.sampleRate;
    this.lastReport = report;
    stats.playedSamples = report.playedSamples;
    stats.playedPosition = report.playedPosition;
    stats.bufferedMs = (1000 * report.bufferedSamples) / rate;
    stats.underruns = report.underruns;
    stats.droppedMs = (1000 * report.droppedSamples) / rate;
    if (this.format && (stats.state === "buffering" || stats.state === "playing")) {
      setState(report.playing ? "playing" : "buffering");
    }
    $("stat-played").textContent = (report.playedSamples / rate).toFixed(1);
    $("stat-buffer").textContent = Math.round(stats.bufferedMs);
    $("stat-underruns").textContent = stats.underruns;
    $("stat-gaps").textContent = stats.gaps;
    $("stat-dropped").textContent = Math.round(stats.droppedMs);
    $("stat-frames").textContent = stats.framesReceived;
    const heard = this.heardPosition() ?? report.playedPosition;
    if (heard !== null) this.timeline.update(heard);
  }

  /** Stream position being heard now, between reports (null when not playing). */
  heardPosition() {
    const report = this.lastReport;
    if (!report?.playing || report.playedPosition === null || this.context.state !== "running") return null;
    const { currentTime, outputLatency = 0, sampleRate } = this.context;
    const ahead = Math.min(currentTime - report.time, report.bufferedSamples / sampleRate);
    return report.playedPosition + (ahead - outputLatency) * sampleRate * this.step;
  }
}

// ---------------------------------------------------------------------------------------------
// Now playing: events arrive ahead of the audio; show each when its position is heard

class Timeline {
  constructor() {
    this.reset();
  }

  reset() {
    this.upcoming = []; // now_playing events not heard yet, by position
    this.current = null;
  }

  add(event) {
    if (this.current && event.position <= this.current.position) return; // already heard
    this.upcoming = this.upcoming.filter((e) => e.position !== event.position);
    this.upcoming.push(event);
    this.upcoming.sort((a, b) => a.position - b.position);
    new Image().src = pageUrl(event.image); // fetch it while it is still kept on the station
    if (!this.current) this.show(this.upcoming.shift()); // what the station plays before we hear it
  }

  /** Move to the last event at or before `position`. */
  update(position) {
    let heard = null;
    while (this.upcoming.length && this.upcoming[0].position <= position) heard = this.upcoming.shift();
    if (heard) this.show(heard);
  }

  show(event) {
    this.current = event;
    stats.nowPlaying = event;
    const list = $("now-playing-prompts");
    list.replaceChildren(
      ...event.prompts.map(({ text, weight }) => {
        const item = document.createElement("li");
        const weightLabel = document.createElement("span");
        weightLabel.className = "weight";
        weightLabel.textContent = `× ${Number(weight).toFixed(2)}`;
        item.append(text, " ", weightLabel);
        return item;
      }),
    );
    $("now-playing-seed").textContent = event.seed;
    $("now-playing-alpha").textContent = Number(event.alpha).toFixed(2);
    $("now-playing-position").textContent = event.position;
    $("spectrogram").src = pageUrl(event.image);
  }

  /** Playhead over the picture, as a fraction of its width (null when off the picture). */
  playhead(position) {
    const image = $("spectrogram");
    if (position === null || !this.current || !image.complete || !image.naturalWidth) return null;
    const chunkSamples = image.naturalWidth * COLUMN_SECONDS * (stats.sampleRate ?? options.sampleRate);
    const x = (position - this.current.position) / chunkSamples;
    return x >= 0 && x <= 1 ? x : null;
  }
}

// ---------------------------------------------------------------------------------------------
// Steering: control socket with the token, request/reply by id

class Control {
  constructor() {
    this.socket = null;
    this.ready = null;
    this.token = "";
    this.nextId = 1;
    this.pending = new Map(); // id → {resolve, reject, timer}
    this.lastStatus = null;
    this.statusTimer = null;
    this.onStatus = () => {};
  }

  setToken(token) {
    this.close();
    this.token = token;
    $("steer").disabled = !token;
    if (token) this.connect().catch(() => {});
    else showControl("Steering needs the station's control token: open the player URL that "
      + "riffcast serve printed (…/#token=…), or paste the token here.", "muted");
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.ready = null;
    clearInterval(this.statusTimer);
    socket?.close(1000);
    this.failPending("control connection closed");
  }

  connect() {
    let socket;
    try {
      socket = new WebSocket(socketUrl("control"), [CONTROL_SUBPROTOCOL, BEARER_PREFIX + this.token]);
    } catch {
      // SyntaxError: characters a subprotocol cannot hold, so not the station's token.
      showControl("wrong token", "error");
      return Promise.reject(new Error("wrong token"));
    }
    this.socket = socket;
    showControl("connecting…", "muted");
    socket.onmessage = (event) => this.reply(JSON.parse(event.data));
    this.ready = new Promise((resolve, reject) => {
      let opened = false;
      socket.onopen = () => {
        if (socket.protocol !== CONTROL_SUBPROTOCOL) {
          socket.close(1000);
          return;
        }
        opened = true;
        showControl("connected", "ok");
        this.statusTimer = setInterval(() => this.refreshStatus(), STATUS_EVERY_MS);
        this.refreshStatus();
        resolve();
      };
      socket.onclose = async (event) => {
        if (this.socket !== socket) return reject(new Error("control connection closed")); // on purpose
        this.socket = null;
        this.ready = null;
        clearInterval(this.statusTimer);
        this.failPending("control connection closed");
        const why = opened
          ? `control connection closed (${[event.code, event.reason].join(" ").trim()}); Connect or Steer reconnects`
          : await this.refusal();
        showControl(why, "error");
        reject(new Error(why));
      };
    });
    return this.ready;
  }

  /** Why the handshake failed: browsers hide the HTTP status of a refused WebSocket, so ask. */
  async refusal() {
    try {
      const response = await fetch(pageUrl("control"), {
        method: "HEAD",
        headers: { Authorization: `Bearer ${this.token}` },
        cache: "no-store",
      });
      if (response.status === 401) return "wrong token";
      if (response.status === 403) return "this page's origin may not steer the station (see --allow-origin)";
      if (response.status === 426) return "the station refused the control connection";
      return `control refused (HTTP ${response.status})`;
    } catch {
      return "station unreachable";
    }
  }

  async request(message) {
    if (!this.token) throw new Error("control needs the token");
    await (this.ready ?? this.connect());
    if (this.socket?.readyState !== WebSocket.OPEN) throw new Error("control connection closed");
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("no reply from the station"));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ ...message, id }));
    });
  }

  reply(message) {
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    waiting.resolve(message);
  }

  failPending(why) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error(why));
    }
    this.pending.clear();
  }

  async refreshStatus() {
    try {
      const status = await this.request({ type: "status" });
      if (status.type !== "status") return;
      this.lastStatus = status;
      this.onStatus(status);
    } catch {
      // the close handler already says why
    }
  }
}

function showControl(text, kind) {
  $("control-state").textContent = text;
  $("control-state").className = kind;
}

// ---------------------------------------------------------------------------------------------
// Steering form

class SteerForm {
  constructor(control, listener) {
    this.control = control;
    this.listener = listener; // () → the current Listener or null
    this.rows = [{ text: "", weight: 1 }];
    this.touched = false; // once the operator edits, status no longer fills the form
    $("steer-form").addEventListener("input", () => (this.touched = true));
    $("steer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.steer();
    });
    $("add-prompt").addEventListener("click", () => {
      this.rows.push({ text: "", weight: 1 });
      this.render();
      $(`prompt-${this.rows.length - 1}-text`).focus();
    });
    this.render();
  }

  render() {
    const rows = this.rows.map((row, i) => {
      const div = document.createElement("div");
      div.className = "row prompt-row";
      const text = Object.assign(document.createElement("input"), {
        id: `prompt-${i}-text`, type: "text", value: row.text, placeholder: "prompt",
      });
      text.setAttribute("aria-label", `prompt ${i + 1}`);
      text.addEventListener("input", () => (row.text = text.value));
      const weight = Object.assign(document.createElement("input"), {
        id: `prompt-${i}-weight`, type: "number", step: "any", value: row.weight, className: "weight",
      });
      weight.setAttribute("aria-label", `weight of prompt ${i + 1}`);
      weight.addEventListener("input", () => (row.weight = weight.value));
      const remove = Object.assign(document.createElement("button"), {
        id: `prompt-${i}-remove`, type: "button", textContent: "Remove", disabled: this.rows.length === 1,
      });
      remove.addEventListener("click", () => {
        this.rows.splice(i, 1);
        this.touched = true;
        this.render();
      });
      div.append(text, weight, remove);
      return div;
    });
    $("prompts").replaceChildren(...rows);
  }

  /** Start from the station's settings until the operator edits the form. */
  fill(status) {
    $("seed").placeholder = `keep (${status.seed})`;
    if (this.touched) return;
    this.rows = status.prompts.map(({ text, weight }) => ({ text, weight }));
    this.render();
    $("transition").value = status.transition_chunks ?? $("transition").value;
  }

  async steer() {
    const prompts = this.rows
      .map(({ text, weight }) => ({ text: text.trim(), weight: Number(weight) }))
      .filter(({ text }) => text);
    if (!prompts.length) return this.result("enter at least one prompt", "error");
    const message = { type: "steer", prompts, transition_chunks: Number($("transition").value) };
    if ($("seed").value !== "") message.seed = Number($("seed").value);
    this.result("steering…", "muted");
    try {
      const reply = await this.control.request(message);
      if (reply.type === "ack") this.result(this.ackText(reply.position), "ok");
      else this.result(reply.error ?? JSON.stringify(reply), "error");
    } catch (error) {
      this.result(error.message, "error");
    }
  }

  ackText(position) {
    const heard = this.listener()?.heardPosition() ?? this.control.lastStatus?.position;
    if (heard === null || heard === undefined) return `heard from position ${position}`;
    const seconds = (position - heard) / (stats.sampleRate ?? options.sampleRate);
    return `heard from position ${position}, ≈ ${Math.max(0, seconds).toFixed(1)} s from now`;
  }

  result(text, kind) {
    $("steer-result").textContent = text;
    $("steer-result").className = kind;
  }
}

// ---------------------------------------------------------------------------------------------
// Page

function describeStatus(s) {
  const figures = [
    `lead ${Number(s.lead_s).toFixed(1)} s`,
    `${s.listeners} listener${s.listeners === 1 ? "" : "s"}`,
    `${s.underruns} station underruns`,
    `denoising ${s.denoising}`,
    `guidance ${s.guidance}`,
  ];
  return `Station: ${figures.join(" · ")}`;
}

function tokenFromHash() {
  // "+" is a token character, not a space here.
  return new URLSearchParams(location.hash.slice(1).replaceAll("+", "%2B")).get("token") ?? "";
}

function main() {
  const timeline = new Timeline();
  const control = new Control();
  let listener = null;
  const form = new SteerForm(control, () => listener);
  control.onStatus = (status) => {
    $("station-status").textContent = describeStatus(status);
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
    Object.assign(stats, {
      framesReceived: 0, gaps: 0, gapSamples: 0, playedSamples: 0, playedPosition: null, underruns: 0,
      droppedMs: 0,
    });
    const starting = new Listener(timeline);
    listener = starting;
    play.textContent = "Stop";
    try {
      await starting.start();
    } catch (error) {
      if (starting.stopped) return; // Stop was pressed meanwhile
      starting.stop();
      listener = null;
      play.textContent = "Play";
      setState("closed", `cannot start audio: ${error.message}`);
    }
  });
  play.disabled = false;

  const token = $("token");
  token.value = tokenFromHash();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    control.setToken(token.value.trim());
  });
  window.addEventListener("hashchange", () => {
    token.value = tokenFromHash();
    control.setToken(token.value);
  });
  control.setToken(token.value);

  const playhead = $("playhead");
  const draw = () => {
    const heard = listener?.heardPosition() ?? null;
    if (heard !== null) timeline.update(heard);
    const x = timeline.playhead(heard);
    playhead.hidden = x === null;
    if (x !== null) playhead.style.left = `${(100 * x).toFixed(2)}%`;
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
}

main();
