/**
 * Listening: the stream socket → decoding (Opus through WebCodecs where the browser has it, else
 * s16le PCM) → resampling (when the output's rate differs) → the AudioWorklet ring buffer
 * (worklet.js), which plays the samples and reports what it played. Reconnects with back-off
 * when the connection drops.
 *
 * Rewind (`seek`): the stream starts again at a position inside the station's rewind window
 * (`/stream?from=POSITION`); the station then sends everything from there to the live position
 * at once, and live frames after it. Those frames wait here as they came (`queue`: Opus packets or
 * s16le, not decoded audio — 0.5 or 5 MB a minute rather than 10), and are decoded as the worklet is
 * fed, a little at a time, so the page plays them in order, behind live by as much as it rewound.
 */

import { canDecodeOpus, OpusStream } from "./opus.js";
import {
  decodeFrame, decodePacket, HEADER_BYTES, mixToMono, OPUS, OPUS_SAMPLE_RATE, parseHello, parseMessage, parseNowPlaying,
  ProtocolError, SAMPLE_BYTES,
} from "./protocol.js";
import { Resampler } from "./resampler.js";
import { options, stats } from "./stats.js";
import { showConnection, showListeningFigures, showStation } from "./page.js";
import { pageUrl, socketUrl } from "./urls.js";

const POLICY_VIOLATION = 1008; // the station closed us on purpose: reconnecting would not help
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 10_000;
const JITTER_SECONDS = 0.05; // network jitter the pre-fill absorbs on top of one frame
const FEED_AHEAD_SECONDS = 0.3; // rewound: what the worklet is kept holding (under its latency cap)

/**
 * Ring-buffer sizes (seconds) for frames of `frameSeconds`: the pre-fill must outlast the wait
 * for the next frame, and the latency cap must leave room for a frame on top of it.
 * @param {number} frameSeconds
 * @param {{prefillSeconds: number, maxLatencySeconds: number, capacitySeconds: number}} [least]
 *   the sizes wanted at the least
 */
export function ringSettings(frameSeconds, least = options) {
  const prefillSeconds = Math.max(least.prefillSeconds, frameSeconds + JITTER_SECONDS);
  const maxLatencySeconds = Math.max(least.maxLatencySeconds, prefillSeconds + 2 * frameSeconds);
  const capacitySeconds = Math.max(least.capacitySeconds, maxLatencySeconds + 2 * frameSeconds);
  return { prefillSeconds, maxLatencySeconds, capacitySeconds };
}

function setState(state, detail = "") {
  stats.state = state;
  showConnection(state, detail);
}

export class Listener {
  /** @param {import("./timeline.js").Timeline} timeline  told the now_playing events and the position heard */
  constructor(timeline) {
    this.timeline = timeline;
    this.stopped = false;
    this.socket = null;
    this.hello = null; // of the current connection; null until it arrives
    this.nextPosition = null; // stream samples: the previous frame's position + its samples
    this.backoffMs = RECONNECT_MIN_MS;
    this.retryTimer = null;
    this.lastReport = null; // the worklet's latest
    this.from = null; // the stream position asked for (rewound); null: live
    this.queue = []; // rewound: {buffer, samples} frames as received (stream samples each), not decoded yet
    this.queuedSamples = 0; // stream samples in `queue`
    this.queuedBytes = 0;
    this.decoding = 0; // Opus packets handed to the decoder whose samples have not come back
    this.captured = null; // resolves the capture asked of the worklet, if any
  }

  /**
   * Call from a user gesture (a click): browsers only let audio start from one.
   * @returns {Promise<boolean>} false when the audio could not start (the state says why) or
   *   Stop was pressed meanwhile
   */
  async start() {
    try {
      this.context = new AudioContext({ sampleRate: options.sampleRate });
      await this.context.audioWorklet.addModule(pageUrl("static/worklet.js"));
      await this.context.resume();
      // Opus (about 70 kbit/s) where WebCodecs decodes it; PCM s16le (707 kbit/s) elsewhere.
      this.format = options.format ?? ((await canDecodeOpus()) ? OPUS : "s16le");
      stats.format = this.format;
      if (!this.stopped) this.connect();
    } catch (error) {
      if (this.stopped) return false; // Stop was pressed meanwhile
      this.stop();
      setState("closed", `cannot start audio: ${error.message}`);
    }
    return !this.stopped;
  }

  /** The ring-buffer node, made at the first hello: its sizes follow the frame length. */
  createNode(frameSeconds) {
    this.node = new AudioWorkletNode(this.context, "riffcast-ring", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: ringSettings(frameSeconds),
    });
    this.node.port.onmessage = (event) => {
      if (event.data.type === "captured") this.captured?.({ ...event.data, sampleRate: this.context.sampleRate });
      else this.report(event.data);
    };
    this.node.connect(this.context.destination);
  }

  /**
   * What the worklet sends to the output next, for tests (worklet.js's `capture`).
   * @param {number} seconds
   * @returns {Promise<{samples: Float32Array, positions: Float64Array, step: number, sampleRate: number}>}
   *   the output samples, the stream position of each 128-sample render quantum's first (NaN: silence),
   *   the stream samples per output sample, and the output's rate
   */
  capture(seconds) {
    if (!this.node) return Promise.reject(new Error("no audio yet"));
    return new Promise((resolve) => {
      this.captured = resolve;
      this.node.port.postMessage({ type: "capture", samples: Math.round(seconds * this.context.sampleRate) });
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000);
    this.opus?.close();
    this.context?.close();
    setState("stopped");
  }

  connect() {
    setState("connecting");
    const from = this.from === null ? "" : `&from=${Math.round(this.from)}`;
    const socket = new WebSocket(socketUrl(`stream?format=${this.format}${from}`));
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.text(event.data);
      else this.frame(event.data);
    };
    socket.onclose = (event) => this.closed(event);
    this.socket = socket;
    this.hello = null;
  }

  /**
   * Play from stream position `position` in the rewind window, then on, behind live; null: live.
   * @param {number|null} position  stream samples (the window's ends: GET /window)
   */
  seek(position) {
    this.from = position === null ? null : Math.round(position);
    stats.from = this.from;
    this.forgetQueue();
    this.nextPosition = null;
    this.node?.port.postMessage({ type: "flush" });
    this.opus?.close();
    this.opus = null;
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.onmessage = null;
      this.socket.close(1000);
    }
    clearTimeout(this.retryTimer);
    this.connect();
  }

  closed(event) {
    if (this.stopped) return;
    // Rewound, go on from the next frame due; a start the window no longer holds: live.
    this.from = this.from !== null && this.hello ? this.nextPosition : null;
    if (this.from === null) this.forgetQueue();
    stats.from = this.from;
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

  text(text) {
    const message = parseMessage(text);
    if (message.type === "hello") this.welcome(message);
    else if (message.type === "now_playing") this.timeline.add(parseNowPlaying(message));
  }

  welcome(message) {
    let hello;
    try {
      hello = parseHello(message);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.stopped = true;
      this.socket.close(1000);
      setState("closed", error.message);
      return;
    }
    this.timeline.reset(); // after a reconnect the station may have restarted: positions begin again
    if (!this.node) this.createNode(hello.frame_samples / hello.sample_rate);
    this.hello = hello;
    this.backoffMs = RECONNECT_MIN_MS;
    this.step = hello.sample_rate / this.context.sampleRate; // stream samples per output sample
    this.inputRate = hello.format === OPUS ? OPUS_SAMPLE_RATE : hello.sample_rate; // of the decoded samples
    this.resampler = this.inputRate === this.context.sampleRate ? null : new Resampler(this.inputRate / this.context.sampleRate);
    this.opus?.close();
    this.decoding = 0;
    this.opus = hello.format === OPUS
      ? new OpusStream(hello.sample_rate, (samples, position) => {
        this.decoding = Math.max(0, this.decoding - 1);
        this.play(samples, position);
      }, (error) => setState("closed", `cannot decode the stream: ${error.message}`))
      : null;
    stats.station = hello.station;
    stats.sampleRate = hello.sample_rate;
    showStation(hello.station);
    setState(this.lastReport?.playing ? "playing" : "buffering");
  }

  frame(buffer) {
    if (!this.hello) return; // audio before hello is not riffcast/1
    const { position } = decodePacket(buffer); // every frame's header: its position
    const { format, channels, frame_samples: frameSamples } = this.hello;
    const samples = this.opus ? frameSamples : (buffer.byteLength - HEADER_BYTES) / (SAMPLE_BYTES[format] * channels);
    this.arrived(position, samples);
    if (this.from === null) {
      this.decode(buffer);
      return;
    }
    this.queue.push({ buffer, samples });
    this.queuedSamples += samples;
    this.queuedBytes += buffer.byteLength;
  }

  /** One frame's audio on its way to the worklet: Opus through the decoder, PCM at once. */
  decode(buffer) {
    if (this.opus) {
      const { position, packet } = decodePacket(buffer);
      this.decoding++;
      this.opus.decode(packet, position);
      return;
    }
    const frame = decodeFrame(buffer, this.hello);
    this.play(mixToMono(frame.samples, frame.channels), frame.position);
  }

  forgetQueue() {
    this.queue = [];
    this.queuedSamples = 0;
    this.queuedBytes = 0;
  }

  /** Count a frame and the gap before it, if any (stream samples). */
  arrived(position, samplesPerChannel) {
    stats.framesReceived++;
    if (this.nextPosition !== null && position !== this.nextPosition) {
      stats.gaps++;
      stats.gapSamples += position - this.nextPosition;
      this.resampler?.reset();
    }
    this.nextPosition = position + samplesPerChannel;
  }

  /**
   * Decoded mono samples (at `this.inputRate`) to the worklet, at the output's rate.
   * @param {Float32Array} samples
   * @param {number} position  stream position of the first
   */
  play(samples, position) {
    if (this.stopped) return;
    const toInput = this.inputRate / this.hello.sample_rate; // input samples per stream sample
    const out = this.resampler?.process(samples, position * toInput) ?? { samples, position: position * toInput };
    const part = { type: "samples", samples: out.samples, position: out.position / toInput, step: this.step };
    this.node.port.postMessage(part, [part.samples.buffer]);
  }

  /**
   * Rewound: top the worklet up to FEED_AHEAD_SECONDS (output samples, counting the packets still
   * in the decoder) by decoding frames from the queue (at each report).
   */
  feed(bufferedSamples) {
    if (!this.hello) return; // between connections: the next hello says how to decode
    const frameOutput = this.hello.frame_samples / this.step; // output samples of one frame
    let room = FEED_AHEAD_SECONDS * this.context.sampleRate - bufferedSamples - this.decoding * frameOutput;
    while (room > 0 && this.queue.length > 0) {
      const { buffer, samples } = this.queue.shift();
      this.queuedSamples -= samples;
      this.queuedBytes -= buffer.byteLength;
      room -= samples / this.step;
      this.decode(buffer);
    }
    stats.queuedMs = (1000 * this.queuedSamples) / this.hello.sample_rate;
    stats.queuedBytes = this.queuedBytes;
  }

  /** A report of the worklet (see worklet.js), about every 100 ms. */
  report(report) {
    const rate = this.context.sampleRate;
    this.lastReport = report;
    if (this.queue.length > 0 || this.from !== null) this.feed(report.bufferedSamples);
    stats.playedSamples = report.playedSamples;
    stats.playedPosition = report.playedPosition;
    stats.bufferedMs = (1000 * report.bufferedSamples) / rate;
    stats.underruns = report.underruns;
    stats.droppedMs = (1000 * report.droppedSamples) / rate;
    if (this.hello && (stats.state === "buffering" || stats.state === "playing")) {
      setState(report.playing ? "playing" : "buffering");
    }
    showListeningFigures(stats, report.playedSamples / rate);
    const heard = this.heardPosition() ?? report.playedPosition;
    if (heard !== null) this.timeline.update(heard);
  }

  /**
   * Stream position being heard now, between reports: the worklet's played position moved on
   * by the time since its report and back by the output's latency.
   * @returns {number|null} stream samples (fractional), null when not playing
   */
  heardPosition() {
    const report = this.lastReport;
    if (!report?.playing || report.playedPosition === null || this.context.state !== "running") return null;
    const { currentTime, outputLatency = 0, sampleRate } = this.context;
    const ahead = Math.min(currentTime - report.time, report.bufferedSamples / sampleRate);
    return report.playedPosition + (ahead - outputLatency) * sampleRate * this.step;
  }
}
