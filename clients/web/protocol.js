/**
 * The `riffcast/1` wire protocol for JavaScript listeners (browser or node), without I/O:
 * pure functions over strings and ArrayBuffers, no DOM, no WebSocket. The same rules as the
 * Python codec `riffcast.protocol` (README, "Wire protocol riffcast/1" and "/control").
 *
 * Stream (`/stream`): one text `hello`, then binary frames, with text `now_playing` events
 * between them. A frame is a 16-byte little-endian header (uint64 position of its first
 * sample, float64 Unix time of emission) followed by interleaved PCM (s16le or f32le), or by
 * one 20 ms Opus packet (`format=opus`, 48 kHz; positions advance by 882 stream samples).
 * Positions count samples (per channel) since the stream started.
 *
 * Control (`/control`): JSON requests (`steer`, `status`) carrying an `id`, answered by replies
 * (`ack`, `error`, `status`) with the same `id`. Browsers authenticate with the subprotocols
 * of {@link controlSubprotocols}.
 *
 * Parsed messages keep the wire's field names (`sample_rate`, `frame_samples`, `lead_s`).
 * Every parser throws {@link ProtocolError} for text or bytes that are not `riffcast/1`.
 */

export const PROTOCOL = "riffcast/1";
export const HEADER_BYTES = 16; // uint64 position, float64 server time, little-endian
/** Bytes per sample of each PCM format. */
export const SAMPLE_BYTES = Object.freeze({ s16le: 2, f32le: 4 });
export const OPUS = "opus"; // frames carry one Opus packet each
export const OPUS_SAMPLE_RATE = 48000; // what the packets decode at
const INT16_SCALE = 32767; // s16le ↔ float, as the Python codec
export const CONTROL_SUBPROTOCOL = "riffcast-control";
export const BEARER_PREFIX = "bearer.";
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Text or bytes that are not valid `riffcast/1`. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}

// -- stream: text messages ---------------------------------------------------------------

/**
 * @typedef {object} Hello  The first message of a stream.
 * @property {"hello"} type
 * @property {string} protocol  always "riffcast/1"
 * @property {string} station  the station's name
 * @property {number} sample_rate  samples per second per channel (Hz)
 * @property {number} channels
 * @property {"s16le"|"f32le"|"opus"} format  PCM format of the frames, or opus packets
 * @property {number} [codec_sample_rate]  opus only: 48000
 * @property {number} frame_samples  samples per channel in a frame
 * @property {number} position  stream position (samples) of the next frame
 * @property {number} server_time  Unix time (s) when the hello was sent
 */

/**
 * @typedef {object} NowPlaying  A chunk with new settings starts at `position`; sent before the
 *   frame that holds that sample.
 * @property {"now_playing"} type
 * @property {number} position  stream position (samples) where the chunk starts
 * @property {{text: string, weight: number}[]} prompts  the blend heard in the chunk
 * @property {number} seed
 * @property {number} alpha  where the chunk is in its transition, 0…1
 * @property {string} image  URL path of the chunk's spectrogram PNG (`/chunks/<run>/<position>.png`)
 * @property {number} [image_position]  stream position of the picture's first column (a window's
 *   picture begins with its context, before `position`; absent from older stations: `position`)
 */

/**
 * Any JSON text message of the stream or the control socket.
 * @param {string} text
 * @returns {{type: string}} the message, whatever its type
 */
export function parseMessage(text) {
  if (typeof text !== "string") throw new ProtocolError("riffcast/1 messages here are text, not binary");
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    throw new ProtocolError(`not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (typeof message !== "object" || message === null || Array.isArray(message) || typeof message.type !== "string") {
    throw new ProtocolError(`not a message with a type: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return message;
}

/**
 * A stream's hello, checked: the protocol, a known format and whole-number sizes.
 * @param {string|object} message  the text, or what {@link parseMessage} made of it
 * @returns {Hello}
 */
export function parseHello(message) {
  const hello = typed(message, "hello");
  if (hello.protocol !== PROTOCOL || !(Object.hasOwn(SAMPLE_BYTES, hello.format) || hello.format === OPUS)) {
    throw new ProtocolError(`cannot play ${hello.protocol} in ${hello.format}`);
  }
  for (const [field, lowest] of [["sample_rate", 1], ["channels", 1], ["frame_samples", 0], ["position", 0]]) {
    checkInteger(hello[field], `hello.${field}`, lowest);
  }
  return hello;
}

/**
 * A now_playing event, checked.
 * @param {string|object} message  the text, or what {@link parseMessage} made of it
 * @returns {NowPlaying}
 */
export function parseNowPlaying(message) {
  const event = typed(message, "now_playing");
  checkInteger(event.position, "now_playing.position", 0);
  checkPrompts(event.prompts, "now_playing.prompts");
  checkInteger(event.seed, "now_playing.seed", 0);
  checkNumber(event.alpha, "now_playing.alpha");
  if (typeof event.image !== "string") throw new ProtocolError("now_playing.image must be a URL path");
  if (event.image_position !== undefined) checkInteger(event.image_position, "now_playing.image_position", 0);
  return event;
}

// -- stream: binary frames ---------------------------------------------------------------

/**
 * @typedef {object} AudioFrame
 * @property {number} position  stream position (samples) of the frame's first sample
 * @property {number} serverTimeS  Unix time (s) when the station emitted the frame
 * @property {number} channels
 * @property {number} samplesPerChannel  the next frame's position is `position + samplesPerChannel`
 * @property {Float32Array} samples  interleaved, in [−1, 1]; a view of the message when possible
 */

/**
 * One binary message of a stream.
 * @param {ArrayBuffer|ArrayBufferView} message  the frame's bytes (a browser's ArrayBuffer, a node Buffer)
 * @param {{format: "s16le"|"f32le", channels?: number}} layout  as announced by the hello
 * @returns {AudioFrame}
 */
export function decodeFrame(message, { format, channels = 1 }) {
  const bytes = asBytes(message);
  if (!Object.hasOwn(SAMPLE_BYTES, format)) throw new ProtocolError(`unknown format ${format}: use s16le or f32le`);
  const sampleBytes = SAMPLE_BYTES[format];
  checkInteger(channels, "channels", 1);
  if (bytes.length < HEADER_BYTES || (bytes.length - HEADER_BYTES) % (sampleBytes * channels)) {
    throw new ProtocolError(`a ${format} frame needs a 16-byte header and whole samples, got ${bytes.length} bytes`);
  }
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const wide = header.getBigUint64(0, true);
  if (wide > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`frame position ${wide} is beyond 2^53`);
  const count = (bytes.length - HEADER_BYTES) / sampleBytes;
  const start = bytes.byteOffset + HEADER_BYTES;
  const samples = (format === "f32le" ? float32Samples : int16Samples)(bytes.buffer, start, count);
  return {
    position: Number(wide), serverTimeS: header.getFloat64(8, true), channels, samplesPerChannel: count / channels, samples,
  };
}

/**
 * One binary message: its position and what follows the header (an Opus stream's packet; the player also
 * reads a PCM frame's position with it).
 * @param {ArrayBuffer|ArrayBufferView} message
 * @returns {{position: number, serverTimeS: number, packet: Uint8Array}} `packet` is a view of the message
 */
export function decodePacket(message) {
  const bytes = asBytes(message);
  if (bytes.length <= HEADER_BYTES) {
    throw new ProtocolError(`a frame needs a 16-byte header and a payload, got ${bytes.length} bytes`);
  }
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const wide = header.getBigUint64(0, true);
  if (wide > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`frame position ${wide} is beyond 2^53`);
  return { position: Number(wide), serverTimeS: header.getFloat64(8, true), packet: bytes.subarray(HEADER_BYTES) };
}

/**
 * One channel: the mean of the channels of interleaved samples (the same array when mono).
 * @param {Float32Array} samples  interleaved
 * @param {number} channels
 * @returns {Float32Array}
 */
export function mixToMono(samples, channels) {
  if (channels === 1) return samples;
  const mono = new Float32Array(samples.length / channels);
  for (let i = 0; i < mono.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c];
    mono[i] = sum / channels;
  }
  return mono;
}

function asBytes(message) {
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  throw new ProtocolError("a frame is binary: an ArrayBuffer or a view of one");
}

function float32Samples(buffer, start, count) {
  if (HOST_IS_LITTLE_ENDIAN && start % 4 === 0) return new Float32Array(buffer, start, count);
  const view = new DataView(buffer, start, 4 * count);
  return Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
}

function int16Samples(buffer, start, count) {
  const samples = new Float32Array(count);
  if (HOST_IS_LITTLE_ENDIAN && start % 2 === 0) {
    const raw = new Int16Array(buffer, start, count);
    for (let i = 0; i < count; i++) samples[i] = raw[i] / INT16_SCALE;
  } else {
    const view = new DataView(buffer, start, 2 * count);
    for (let i = 0; i < count; i++) samples[i] = view.getInt16(2 * i, true) / INT16_SCALE;
  }
  return samples;
}

// -- control -------------------------------------------------------------------------------

/**
 * The subprotocols that open `/control` with `token`: it travels in the Sec-WebSocket-Protocol
 * header, never in a URL (proxies log URLs). The station answers with `riffcast-control`.
 * @param {string} token
 * @returns {string[]}
 */
export function controlSubprotocols(token) {
  return [CONTROL_SUBPROTOCOL, BEARER_PREFIX + token];
}

/**
 * A steer request (without its id). Fields left undefined keep the station's current values;
 * the station checks every field and answers an `error` reply for a bad one.
 * @param {object} settings
 * @param {{text: string, weight?: number}[]} [settings.prompts]  a weighted blend, or…
 * @param {string} [settings.prompt]  …one prompt
 * @param {number} [settings.seed]
 * @param {number} [settings.denoising]  0…1
 * @param {number} [settings.guidance]
 * @param {string} [settings.negativePrompt]
 * @param {number} [settings.transitionChunks]  chunks (5.12 s each) over which to move there
 * @param {number|null} [settings.bpm]  40…240 beats per minute; null: free (the prompts' tempo)
 * @param {string|null} [settings.key]  "A minor", "F# major", "Bb major" …; null: free
 * @param {number} [settings.brightness]  −1 dark … 0 as painted … +1 bright
 * @param {"on"|"off"|"only"} [settings.drums]
 * @param {"on"|"off"|"only"} [settings.bass]
 * @returns {object}  (with only musical controls and no prompts, the station keeps its prompts)
 */
export function steerRequest({ prompts, prompt, seed, denoising, guidance, negativePrompt, transitionChunks,
  bpm, key, brightness, drums, bass }) {
  const controls = { bpm, key, brightness, drums, bass };
  const onlyControls = Object.values(controls).some((value) => value !== undefined);
  if (prompts !== undefined && prompt !== undefined) throw new TypeError("give either prompts or prompt");
  if (prompts === undefined && prompt === undefined && !onlyControls) throw new TypeError("give either prompts or prompt");
  const request = { type: "steer", prompts, prompt, transition_chunks: transitionChunks, seed, denoising, guidance,
    negative_prompt: negativePrompt, ...controls };
  return Object.fromEntries(Object.entries(request).filter(([, value]) => value !== undefined));
}

/** A status request (without its id): the station answers its settings, lead and listeners. */
export function statusRequest() {
  return { type: "status" };
}

/**
 * The text to send for a request.
 * @param {object} request  from {@link steerRequest} or {@link statusRequest}
 * @param {number|string} id  echoed in the reply
 * @returns {string}
 */
export function encodeRequest(request, id) {
  return JSON.stringify({ ...request, id });
}

/**
 * A control reply, checked by type: `ack` (`position`: the sample from which a steer is heard),
 * `error` (`error`: why), `status` (`prompts`, `seed`, `lead_s` in seconds, `listeners`,
 * `underruns`, …); other types pass unchecked.
 * @param {string|object} message  the text, or what {@link parseMessage} made of it
 * @returns {{type: string, id: number|string|null}}
 */
export function parseReply(message) {
  const reply = typeof message === "string" ? parseMessage(message) : message;
  if (reply.type === "ack") {
    checkInteger(reply.position, "ack.position", 0);
  } else if (reply.type === "error") {
    if (typeof reply.error !== "string") throw new ProtocolError("error.error must be text");
  } else if (reply.type === "status") {
    checkPrompts(reply.prompts, "status.prompts");
    checkInteger(reply.seed, "status.seed", 0);
    checkNumber(reply.lead_s, "status.lead_s");
    checkInteger(reply.listeners, "status.listeners", 0);
    checkInteger(reply.underruns, "status.underruns", 0);
  }
  return reply;
}

// -- checks --------------------------------------------------------------------------------

function typed(message, type) {
  const object = typeof message === "string" ? parseMessage(message) : message;
  if (object?.type !== type) throw new ProtocolError(`expected a ${type} message, got ${object?.type}`);
  return object;
}

function checkInteger(value, name, lowest) {
  if (!Number.isSafeInteger(value) || value < lowest) {
    throw new ProtocolError(`${name} must be an integer ≥ ${lowest}, got ${value}`);
  }
}

function checkNumber(value, name) {
  if (!Number.isFinite(value)) throw new ProtocolError(`${name} must be a number, got ${value}`);
}

function checkPrompts(prompts, name) {
  if (!Array.isArray(prompts)) throw new ProtocolError(`${name} must be a list`);
  prompts.forEach((prompt, i) => {
    if (typeof prompt?.text !== "string") throw new ProtocolError(`${name}[${i}].text must be text`);
    checkNumber(prompt.weight, `${name}[${i}].weight`);
  });
}
