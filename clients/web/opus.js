/**
 * Opus packets of a `format=opus` stream → mono float samples at 48 kHz, with WebCodecs'
 * `AudioDecoder` (the browser's own libopus). Each packet's stream position travels through the
 * decoder as the chunk's timestamp, so the samples come back tagged with it.
 */

import { OPUS_SAMPLE_RATE } from "./protocol.js";

const CONFIG = Object.freeze({ codec: "opus", sampleRate: OPUS_SAMPLE_RATE, numberOfChannels: 1 });

/**
 * Whether this browser can decode the station's Opus stream.
 * @returns {Promise<boolean>}
 */
export async function canDecodeOpus() {
  if (typeof AudioDecoder === "undefined") return false;
  try {
    return (await AudioDecoder.isConfigSupported(CONFIG)).supported === true;
  } catch {
    return false;
  }
}

export class OpusStream {
  /**
   * @param {number} streamRate  the stream's sample rate (positions count its samples)
   * @param {(samples: Float32Array, position: number) => void} onSamples  48 kHz samples and the
   *   stream position of the first
   * @param {(error: Error) => void} onError
   */
  constructor(streamRate, onSamples, onError) {
    this.streamRate = streamRate;
    this.decoder = new AudioDecoder({
      output: (data) => {
        const samples = new Float32Array(data.numberOfFrames);
        data.copyTo(samples, { planeIndex: 0, format: "f32-planar" });
        const position = Math.round((data.timestamp * this.streamRate) / 1e6);
        data.close();
        onSamples(samples, position);
      },
      error: onError,
    });
    this.decoder.configure(CONFIG);
  }

  /**
   * @param {Uint8Array} packet  one Opus packet
   * @param {number} position  stream position of its first sample
   */
  decode(packet, position) {
    const timestamp = Math.round((position * 1e6) / this.streamRate); // µs
    this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp, data: packet }));
  }

  close() {
    if (this.decoder.state !== "closed") this.decoder.close();
  }
}
