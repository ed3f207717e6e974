/**
 * Sample-rate conversion for a stream that arrives in frames: linear interpolation, carried
 * across frame boundaries so that cutting the input anywhere gives the same output.
 */

/** Linear-interpolation resampler; one per stream, {@link Resampler#reset} at a gap. */
export class Resampler {
  /**
   * @param {number} step  input samples per output sample: the stream's rate over the output's
   *   (44100 / 48000 to play a 44.1 kHz stream on a 48 kHz output)
   */
  constructor(step) {
    this.step = step;
    this.reset();
  }

  /** Forget the previous frame: the next frame starts a new, unrelated piece of signal. */
  reset() {
    this.phase = 0; // input index of the next output sample, relative to the next frame (≥ −1)
    this.previous = 0; // last input sample of the previous frame
  }

  /**
   * Output samples for one input frame. The first may lie between the previous frame's last
   * sample and this frame's first; the last output sample before this frame's end waits for
   * the next frame.
   * @param {Float32Array} input  mono samples at the input rate
   * @param {number} positionSamples  stream position (input samples) of `input[0]`
   * @returns {{samples: Float32Array, position: number}} the output, and the stream position
   *   (input samples, fractional) of its first sample
   */
  process(input, positionSamples) {
    const count = Math.max(0, Math.ceil((input.length - 1 - this.phase) / this.step));
    const output = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const t = this.phase + i * this.step;
      const k = Math.floor(t);
      const a = k < 0 ? this.previous : input[k];
      output[i] = a + (t - k) * (input[k + 1] - a);
    }
    const first = positionSamples + this.phase;
    this.phase += count * this.step - input.length;
    if (input.length) this.previous = input[input.length - 1];
    return { samples: output, position: first };
  }
}
