import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Resampler } from "../resampler.js";

const STREAM_RATE = 44100;

function sine(frequency, rate, count, startSample = 0) {
  return Float32Array.from({ length: count }, (_, i) => Math.sin((2 * Math.PI * frequency * (startSample + i)) / rate));
}

/** Frequency (Hz) from the rising zero crossings, interpolated between samples. */
function measuredFrequency(samples, rate) {
  const crossings = [];
  for (let i = 1; i < samples.length; i++) {
    if (samples[i - 1] < 0 && samples[i] >= 0) crossings.push(i - 1 + samples[i - 1] / (samples[i - 1] - samples[i]));
  }
  return ((crossings.length - 1) * rate) / (crossings.at(-1) - crossings[0]);
}

/** Cut `input` into frames of the given sizes (cycled) and resample them one after another. */
function inFrames(resampler, input, sizes) {
  const outputs = [];
  for (let start = 0, n = 0; start < input.length; n++) {
    const size = Math.min(sizes[n % sizes.length], input.length - start);
    outputs.push(resampler.process(input.subarray(start, start + size), 1000 + start));
    start += size;
  }
  return outputs;
}

function concat(outputs) {
  const all = new Float32Array(outputs.reduce((n, out) => n + out.samples.length, 0));
  let at = 0;
  for (const { samples } of outputs) {
    all.set(samples, at);
    at += samples.length;
  }
  return all;
}

describe("Resampler", () => {
  for (const outputRate of [48000, 32000]) {
    it(`keeps a sine's frequency from ${STREAM_RATE} Hz to ${outputRate} Hz`, () => {
      const input = sine(1000, STREAM_RATE, STREAM_RATE);
      const { samples, position } = new Resampler(STREAM_RATE / outputRate).process(input, 0);
      assert.equal(position, 0);
      assert.ok(Math.abs(samples.length - outputRate) <= 1, `${samples.length} samples for 1 s`);
      assert.ok(Math.abs(measuredFrequency(samples, outputRate) - 1000) < 0.5, `${measuredFrequency(samples, outputRate)} Hz`);
      // Sample by sample: the sine at the output's times, within linear interpolation's error.
      const ideal = sine(1000, outputRate, samples.length);
      const worst = Math.max(...samples.map((value, i) => Math.abs(value - ideal[i])));
      assert.ok(worst < 0.005, `off by up to ${worst}`);
    });
  }

  it("gives the same output whether the input comes in one piece or in frames of any size", () => {
    const step = STREAM_RATE / 48000;
    const input = sine(440, STREAM_RATE, 30000);
    const whole = new Resampler(step).process(input, 1000);
    for (const sizes of [[4410], [1, 2, 3, 500, 7], [441, 1000, 13, 2]]) {
      const outputs = inFrames(new Resampler(step), input, sizes);
      const pieces = concat(outputs);
      assert.equal(pieces.length, whole.samples.length, `frames of ${sizes}`);
      const worst = Math.max(...pieces.map((value, i) => Math.abs(value - whole.samples[i])));
      assert.ok(worst < 1e-6, `frames of ${sizes}: off by up to ${worst}`);
      // Each frame's output starts one step after the previous frame's last output sample.
      let produced = 0;
      for (const { samples, position } of outputs) {
        if (samples.length) assert.ok(Math.abs(position - (1000 + produced * step)) < 1e-6, `${position}`);
        produced += samples.length;
      }
    }
  });

  it("has no step at frame boundaries: successive outputs differ as little as inside a frame", () => {
    const step = STREAM_RATE / 48000;
    const output = concat(inFrames(new Resampler(step), sine(1000, STREAM_RATE, 20000), [4410]));
    const largestJump = Math.max(...output.subarray(1).map((value, i) => Math.abs(value - output[i])));
    assert.ok(largestJump <= (2 * Math.PI * 1000) / 48000 + 1e-3, `jump of ${largestJump}`);
  });

  it("starts afresh after reset (a gap), and passes empty frames by", () => {
    const step = STREAM_RATE / 48000;
    const resampler = new Resampler(step);
    resampler.process(new Float32Array([1, 1, 1, 1, 1]), 0);
    resampler.process(new Float32Array(0), 5);
    const carried = resampler.process(new Float32Array([1, 1, 1]), 5);
    assert.ok(carried.samples.every((value) => value === 1), `${carried.samples}`);
    resampler.reset();
    const fresh = resampler.process(new Float32Array([0.5, 0.5, 0.5]), 100);
    assert.equal(fresh.position, 100);
    assert.deepEqual(Array.from(fresh.samples), [0.5, 0.5, 0.5]);
  });
});
