/**
 * riffcast ring-buffer player: an AudioWorkletProcessor that the page feeds with PCM.
 *
 * Page → processor (port messages):
 *   {type: "samples", samples: Float32Array, position: number, step: number}
 *     mono samples at the context's rate; `position` is the stream position (samples since the
 *     station started) of the first one, `step` the stream samples per context sample (1 when
 *     no resampling).
 *   {type: "flush"}
 *     forget what is buffered (a seek in the rewind window): output waits for a new pre-fill.
 *   {type: "capture", samples: number}
 *     copy the next `samples` output samples, from the next quantum that plays audio on.
 * Processor → page, about every 100 ms:
 *   {type: "report", playing, playedSamples, playedPosition, bufferedSamples, underruns,
 *    droppedSamples, time}
 * and once a capture is full:
 *   {type: "captured", samples: Float32Array, positions: Float64Array, step}
 *     exactly what went to the output, and the stream position of each render quantum's first
 *     sample (NaN for a quantum of silence): a tap for tests, one check a quantum unless asked.
 *
 * Output starts once `prefillSeconds` of audio are buffered. A render quantum that finds too
 * few samples is an underrun: what is left fades out, and output waits for a new pre-fill.
 * When more than `maxLatencySeconds` are buffered, the oldest audio is dropped (cross-faded
 * over one quantum) down to twice the pre-fill, so latency stays bounded.
 */

const REPORT_SECONDS = 0.1;

class RingPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { capacitySeconds = 2, prefillSeconds = 0.15, maxLatencySeconds = 0.5 } =
      options.processorOptions ?? {};
    this.ring = new Float32Array(Math.round(capacitySeconds * sampleRate));
    this.prefill = Math.round(prefillSeconds * sampleRate);
    this.cap = Math.min(Math.round(maxLatencySeconds * sampleRate), this.ring.length);
    this.target = Math.min(Math.max(2 * this.prefill, 256), this.cap); // ≥ 2 quanta
    this.written = 0; // samples ever written; ring index = count % ring.length
    this.read = 0; // samples ever taken out (played or dropped)
    this.segments = []; // {at, position, step}: stream position of ring sample `at`
    this.playing = false;
    this.fadeIn = false;
    this.playedSamples = 0;
    this.underruns = 0;
    this.droppedSamples = 0;
    this.reportEvery = Math.max(1, Math.round((REPORT_SECONDS * sampleRate) / 128));
    this.quanta = 0;
    this.capture = null; // {samples, positions, filled} while a capture is asked for
    this.port.onmessage = (event) => {
      if (event.data.type === "samples") this.write(event.data);
      else if (event.data.type === "flush") this.flush();
      else if (event.data.type === "capture") this.startCapture(event.data.samples);
    };
  }

  startCapture(count) {
    const quanta = Math.ceil(count / 128);
    this.capture = { samples: new Float32Array(count), positions: new Float64Array(quanta), filled: 0 };
  }

  /** Copy one output quantum (`position`: the stream position of its first sample, or NaN). */
  captureQuantum(out, position) {
    const capture = this.capture;
    if (capture.filled === 0 && Number.isNaN(position)) return; // from the first quantum that plays
    const count = Math.min(out.length, capture.samples.length - capture.filled);
    capture.positions[Math.floor(capture.filled / 128)] = position;
    capture.samples.set(out.subarray(0, count), capture.filled);
    capture.filled += count;
    if (capture.filled < capture.samples.length) return;
    const step = this.segments[0]?.step ?? 1;
    this.port.postMessage({ type: "captured", samples: capture.samples, positions: capture.positions, step },
      [capture.samples.buffer, capture.positions.buffer]);
    this.capture = null;
  }

  write({ samples, position, step }) {
    const overflow = this.written - this.read + samples.length - this.ring.length;
    if (overflow > 0) this.drop(overflow);
    this.segments.push({ at: this.written, position, step });
    for (let i = 0; i < samples.length; i++) {
      this.ring[(this.written + i) % this.ring.length] = samples[i];
    }
    this.written += samples.length;
  }

  flush() {
    this.read = this.written;
    this.segments = [];
    this.playing = false;
  }

  drop(count) {
    this.read += count;
    this.droppedSamples += count;
  }

  sample(index) {
    return this.ring[index % this.ring.length];
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    const n = out.length;
    let available = this.written - this.read;
    if (!this.playing && available >= this.prefill) {
      this.playing = true;
      this.fadeIn = true;
      if (available > this.cap) this.drop(available - this.target);
      available = this.written - this.read;
    }
    const position = this.capture && this.playing ? this.playedPosition() : NaN;
    if (!this.playing) {
      out.fill(0);
    } else if (available < n) {
      // Underrun: play what is left with a fade-out, then wait for a new pre-fill.
      for (let i = 0; i < n; i++) {
        out[i] = i < available ? (this.sample(this.read + i) * (available - i)) / available : 0;
      }
      this.read += available;
      this.playedSamples += available;
      this.underruns++;
      this.playing = false;
    } else if (available > this.cap) {
      // Too much latency: skip ahead to the target level, cross-fading over this quantum.
      const skip = available - this.target;
      for (let i = 0; i < n; i++) {
        const w = (i + 0.5) / n;
        out[i] = (1 - w) * this.sample(this.read + i) + w * this.sample(this.read + skip + i);
      }
      this.droppedSamples += skip;
      this.read += skip + n;
      this.playedSamples += n;
    } else {
      for (let i = 0; i < n; i++) out[i] = this.sample(this.read + i);
      this.read += n;
      this.playedSamples += n;
    }
    if (this.fadeIn && this.playing) {
      for (let i = 0; i < n; i++) out[i] *= (i + 0.5) / n;
      this.fadeIn = false;
    }
    if (this.capture) this.captureQuantum(out, position ?? NaN);
    if (++this.quanta % this.reportEvery === 0) this.report();
    return true;
  }

  /** Stream position of the next sample to be played (null before any audio arrived). */
  playedPosition() {
    while (this.segments.length > 1 && this.segments[1].at <= this.read) this.segments.shift();
    const segment = this.segments[0];
    return segment ? segment.position + (this.read - segment.at) * segment.step : null;
  }

  report() {
    this.port.postMessage({
      type: "report",
      playing: this.playing,
      playedSamples: this.playedSamples,
      playedPosition: this.playedPosition(),
      bufferedSamples: this.written - this.read,
      underruns: this.underruns,
      droppedSamples: this.droppedSamples,
      time: currentTime,
    });
  }
}

registerProcessor("riffcast-ring", RingPlayer);
