/**
 * What the page lets scripts and tests read and tune, as `window.riffcast` (see player.js):
 * `options`, the audio settings read when Play is pressed, and `stats`, the figures of the
 * listening. Positions are stream samples; `…Samples` counts are at the audio output's rate.
 */

export const options = {
  sampleRate: 44100, // Hz, asked of the AudioContext; other rates are resampled
  format: null, // the stream format to ask for; null: opus where WebCodecs decodes it, else s16le
  prefillSeconds: 0.15,
  maxLatencySeconds: 0.5,
  capacitySeconds: 2,
};

export const stats = {
  state: "idle", // idle | connecting | buffering | playing | reconnecting | closed | stopped
  station: null,
  format: null, // the stream format being played: opus, s16le (or f32le, asked in options), or mp3 (the fallback)
  sampleRate: null, // the stream's (Hz), from hello
  framesReceived: 0,
  gaps: 0, // frames whose position was not the previous frame's next position
  gapSamples: 0, // stream samples missed in those gaps
  playedSamples: 0, // samples the worklet handed to the audio output
  playedPosition: null, // stream position of the next sample to be played
  bufferedMs: 0,
  underruns: 0, // after the first pre-fill
  droppedMs: 0, // dropped to keep latency bounded
  nowPlaying: null, // the now_playing event being heard
  from: null, // rewound: the stream position asked for (/stream?from=); null: live
  queuedMs: 0, // rewound: audio received and waiting to be played
  queuedBytes: 0, // … the frames holding it, as received (not decoded)
  behindLiveS: 0, // how far behind the live position the page plays (seconds)
};

/** Zero the counts of one listening (Play pressed again); the state and station stay. */
export function resetListeningStats() {
  Object.assign(stats, {
    framesReceived: 0, gaps: 0, gapSamples: 0, playedSamples: 0, playedPosition: null, underruns: 0,
    droppedMs: 0, from: null, queuedMs: 0, queuedBytes: 0, behindLiveS: 0,
  });
}

/** The stream's sample rate (Hz): from the hello, or the one asked of the output before it. */
export function streamSampleRate() {
  return stats.sampleRate ?? options.sampleRate;
}
