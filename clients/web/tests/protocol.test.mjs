import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  controlSubprotocols, decodeFrame, decodePacket, encodeRequest, mixToMono, parseHello, parseMessage, parseNowPlaying, parseReply,
  ProtocolError, statusRequest, steerRequest,
} from "../protocol.js";

/** A frame from literal bytes: header (position, server time) then PCM, all little-endian. */
function bytes(...parts) {
  return new Uint8Array(parts.flat()).buffer;
}
const POSITION_5 = [5, 0, 0, 0, 0, 0, 0, 0];
const TIME_1_5 = [0, 0, 0, 0, 0, 0, 0xf8, 0x3f]; // float64 1.5 = 0x3FF8000000000000

const HELLO = {
  type: "hello", protocol: "riffcast/1", station: "test station", sample_rate: 44100, channels: 1,
  format: "f32le", frame_samples: 4410, position: 123, server_time: 1700000000.25,
};
const NOW_PLAYING = {
  type: "now_playing", position: 225792, prompts: [{ text: "jazz", weight: 0.75 }, { text: "rain", weight: 0.25 }],
  seed: 7, alpha: 0.5, image: "/chunks/abc/225792.png",
};

describe("decodeFrame", () => {
  it("decodes s16le samples scaled by 1/32767, with the header's position and time", () => {
    const frame = decodeFrame(bytes(POSITION_5, TIME_1_5, [0, 0], [0xff, 0x7f], [0x00, 0x80], [0x00, 0x40]), { format: "s16le" });
    assert.equal(frame.position, 5);
    assert.equal(frame.serverTimeS, 1.5);
    assert.equal(frame.samplesPerChannel, 4);
    assert.deepEqual(Array.from(frame.samples), [0, 1, Math.fround(-32768 / 32767), Math.fround(16384 / 32767)]);
  });

  it("decodes f32le samples as they are", () => {
    // 1.0 = 0x3F800000, -0.5 = 0xBF000000, 0.25 = 0x3E800000
    const frame = decodeFrame(bytes(POSITION_5, TIME_1_5, [0, 0, 0x80, 0x3f], [0, 0, 0, 0xbf], [0, 0, 0x80, 0x3e]), { format: "f32le" });
    assert.deepEqual(Array.from(frame.samples), [1, -0.5, 0.25]);
    assert.equal(frame.samplesPerChannel, 3);
  });

  it("reads positions beyond 2^32 exactly, up to 2^53 - 1", () => {
    const beyond32 = decodeFrame(bytes([3, 0, 0, 0, 0x01, 0, 0, 0], TIME_1_5), { format: "f32le" });
    assert.equal(beyond32.position, 2 ** 32 + 3);
    const wide = decodeFrame(bytes([7, 0, 0, 0, 0, 0x01, 0, 0], TIME_1_5), { format: "s16le" });
    assert.equal(wide.position, 2 ** 40 + 7);
    const largest = decodeFrame(bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0], TIME_1_5), { format: "f32le" });
    assert.equal(largest.position, Number.MAX_SAFE_INTEGER);
  });

  it("refuses a position that a JavaScript number cannot hold", () => {
    assert.throws(() => decodeFrame(bytes([0, 0, 0, 0, 0, 0, 0x20, 0], TIME_1_5), { format: "f32le" }), ProtocolError); // 2^53
    assert.throws(() => decodeFrame(bytes(Array(8).fill(0xff), TIME_1_5), { format: "f32le" }), ProtocolError);
  });

  it("rejects malformed frames", () => {
    const header = [...POSITION_5, ...TIME_1_5];
    const cases = [
      [bytes(header.slice(0, 15)), { format: "f32le" }], // short header
      [bytes([]), { format: "s16le" }],
      [bytes(header, [1]), { format: "s16le" }], // half a sample
      [bytes(header, [1, 2, 3]), { format: "f32le" }],
      [bytes(header, [0, 0, 0, 0, 0, 0]), { format: "s16le", channels: 2 }], // 3 samples, 2 channels
      [bytes(header, [0, 0]), { format: "u8" }],
      [bytes(header, [0, 0]), { format: "s16le", channels: 0 }],
      ["not bytes", { format: "s16le" }],
    ];
    for (const [message, layout] of cases) {
      assert.throws(() => decodeFrame(message, layout), ProtocolError, JSON.stringify(layout));
    }
  });

  it("accepts a header alone: a frame of no samples", () => {
    const frame = decodeFrame(bytes(POSITION_5, TIME_1_5), { format: "s16le" });
    assert.equal(frame.samples.length, 0);
  });

  it("reads a view at an odd offset (a node Buffer from a pool) like the bytes alone", () => {
    const frame = [...POSITION_5, ...TIME_1_5, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xbf];
    const pool = new Uint8Array(frame.length + 3);
    pool.set(frame, 3);
    const view = pool.subarray(3);
    const f32 = decodeFrame(view, { format: "f32le" });
    assert.equal(f32.position, 5);
    assert.equal(f32.serverTimeS, 1.5);
    assert.deepEqual(Array.from(f32.samples), [1, -0.5]);
    const s16 = decodeFrame(view, { format: "s16le" });
    assert.deepEqual(Array.from(s16.samples), [0, 0x3f80 / 32767, 0, -16640 / 32767].map(Math.fround));
    assert.deepEqual(s16.samples, decodeFrame(bytes(frame), { format: "s16le" }).samples);
  });

  it("keeps interleaved channels, and mixToMono averages them", () => {
    // s16le stereo: (32767, -32767), (16384, 0)
    const frame = decodeFrame(bytes(POSITION_5, TIME_1_5, [0xff, 0x7f, 0x01, 0x80, 0x00, 0x40, 0, 0]), { format: "s16le", channels: 2 });
    assert.equal(frame.samplesPerChannel, 2);
    assert.deepEqual(Array.from(frame.samples), [1, -1, Math.fround(16384 / 32767), 0]);
    assert.deepEqual(Array.from(mixToMono(frame.samples, 2)), [0, Math.fround(Math.fround(16384 / 32767) / 2)]);
    const mono = new Float32Array([0.5]);
    assert.equal(mixToMono(mono, 1), mono);
  });
});

describe("text messages", () => {
  it("parses a hello", () => {
    assert.deepEqual(parseHello(JSON.stringify(HELLO)), HELLO);
    assert.deepEqual(parseHello(parseMessage(JSON.stringify(HELLO))), HELLO);
  });

  it("refuses another protocol or format, saying what it cannot play", () => {
    assert.throws(() => parseHello({ ...HELLO, protocol: "riffcast/2" }), { name: "ProtocolError", message: "cannot play riffcast/2 in f32le" });
    assert.throws(() => parseHello({ ...HELLO, format: "mp3" }), { message: "cannot play riffcast/1 in mp3" });
  });

  it("refuses a hello without whole-number sizes", () => {
    for (const [field, value] of [["sample_rate", 0], ["sample_rate", 44100.5], ["channels", 0], ["frame_samples", -1],
      ["position", "12"], ["position", undefined]]) {
      assert.throws(() => parseHello({ ...HELLO, [field]: value }), ProtocolError, `${field}=${value}`);
    }
  });

  it("refuses text that is not a message, and binary", () => {
    for (const text of ["not json", "[1, 2]", "null", "{}", '{"type": 3}']) {
      assert.throws(() => parseMessage(text), ProtocolError, text);
    }
    assert.throws(() => parseMessage(new ArrayBuffer(4)), ProtocolError);
    assert.throws(() => parseHello(JSON.stringify(NOW_PLAYING)), ProtocolError);
  });

  it("parses a now_playing event", () => {
    const event = parseNowPlaying(JSON.stringify(NOW_PLAYING));
    assert.deepEqual(event, NOW_PLAYING);
    assert.equal(event.prompts[1].text, "rain");
  });

  it("refuses a now_playing event with a bad position, prompts or image", () => {
    for (const change of [{ position: -1 }, { position: 1.5 }, { prompts: "jazz" }, { prompts: [{ text: "a" }] },
      { prompts: [{ text: 1, weight: 1 }] }, { image: null }, { seed: "7" }, { alpha: "0.5" }]) {
      assert.throws(() => parseNowPlaying({ ...NOW_PLAYING, ...change }), ProtocolError, JSON.stringify(change));
    }
  });
});

describe("control", () => {
  it("opens /control with the token as a bearer subprotocol", () => {
    assert.deepEqual(controlSubprotocols("s3cret.token"), ["riffcast-control", "bearer.s3cret.token"]);
  });

  it("builds a steer request with the wire's field names, leaving out what is not given", () => {
    const request = steerRequest({ prompts: [{ text: "jazz", weight: 2 }, { text: "rain", weight: 1 }], seed: 7, transitionChunks: 4 });
    assert.deepEqual(request, { type: "steer", prompts: [{ text: "jazz", weight: 2 }, { text: "rain", weight: 1 }], seed: 7,
      transition_chunks: 4 });
    assert.deepEqual(JSON.parse(encodeRequest(request, 12)), { ...request, id: 12 });
    assert.deepEqual(steerRequest({ prompt: "jazz", denoising: 0.75, guidance: 7, negativePrompt: "" }),
      { type: "steer", prompt: "jazz", denoising: 0.75, guidance: 7, negative_prompt: "" });
    assert.throws(() => steerRequest({}), TypeError);
    assert.deepEqual(steerRequest({ bpm: 94, key: null, drums: "off" }), { type: "steer", bpm: 94, key: null, drums: "off" });
    assert.throws(() => steerRequest({ prompt: "a", prompts: [{ text: "b" }] }), TypeError);
  });

  it("builds a status request", () => {
    assert.equal(encodeRequest(statusRequest(), 3), '{"type":"status","id":3}');
  });

  it("parses the replies", () => {
    assert.deepEqual(parseReply('{"type": "ack", "id": 1, "position": 4294967299}'), { type: "ack", id: 1, position: 2 ** 32 + 3 });
    assert.equal(parseReply('{"type": "error", "id": 2, "error": "prompts[0].weight must be > 0"}').error, "prompts[0].weight must be > 0");
    const status = { type: "status", id: 3, position: 10, prompts: [{ text: "jazz", weight: 1 }], seed: 7, lead_s: 2.5,
      listeners: 1, underruns: 0, denoising: 0.75, guidance: 7, transition_chunks: 4 };
    assert.deepEqual(parseReply(JSON.stringify(status)), status);
  });

  it("refuses replies that miss what their type promises", () => {
    for (const reply of [{ type: "ack", id: 1 }, { type: "ack", id: 1, position: -5 }, { type: "error", id: 1 },
      { type: "status", id: 1, prompts: [], seed: 1, listeners: 1, underruns: 0 }]) {
      assert.throws(() => parseReply(JSON.stringify(reply)), ProtocolError, JSON.stringify(reply));
    }
  });
});

describe("opus streams", () => {
  it("accepts an opus hello and reads a packet with its position", () => {
    const hello = parseHello({ ...HELLO, format: "opus", frame_samples: 882, codec_sample_rate: 48000 });
    assert.equal(hello.format, "opus");
    const frame = decodePacket(bytes(POSITION_5, TIME_1_5, [0xfc, 0xff, 0xfe]));
    assert.equal(frame.position, 5);
    assert.equal(frame.serverTimeS, 1.5);
    assert.deepEqual([...frame.packet], [0xfc, 0xff, 0xfe]);
  });

  it("refuses a frame without a packet, and unknown formats", () => {
    assert.throws(() => decodePacket(bytes(POSITION_5, TIME_1_5)), ProtocolError);
    assert.throws(() => parseHello({ ...HELLO, format: "aac" }), ProtocolError);
  });
});
