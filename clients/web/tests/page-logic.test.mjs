// The few pure functions of the DOM-side modules: URLs, ring sizes, texts for people.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { KEYS, controlsFromForm, describeAck, promptsLabel } from "../form.js";
import { ringSettings } from "../listener.js";
import { clockText, describeStatus } from "../page.js";
import { pageUrl, socketUrl } from "../urls.js";

describe("urls", () => {
  it("keeps every URL under the page's prefix, a leading / too", () => {
    assert.equal(pageUrl("/chunks/r/5.png", "http://h:8000/radio/").href, "http://h:8000/radio/chunks/r/5.png");
    assert.equal(pageUrl("static/worklet.js", "http://h:8000/").href, "http://h:8000/static/worklet.js");
  });

  it("makes ws: URLs for an http: page and wss: for https:", () => {
    assert.equal(socketUrl("stream?format=f32le", "http://h:8000/").href, "ws://h:8000/stream?format=f32le");
    assert.equal(socketUrl("control", "https://example.org/radio/#token=x").href, "wss://example.org/radio/control");
  });
});

describe("ringSettings", () => {
  const least = { prefillSeconds: 0.15, maxLatencySeconds: 0.5, capacitySeconds: 2 };

  function near(actual, expected) {
    for (const key of Object.keys(expected)) assert.ok(Math.abs(actual[key] - expected[key]) < 1e-9, `${key}: ${actual[key]}`);
  }

  it("keeps the wanted sizes for 100 ms frames", () => {
    near(ringSettings(0.1, least), least);
    near(ringSettings(0.1, { ...least, capacitySeconds: 4 }), { ...least, capacitySeconds: 4 });
  });

  it("grows with long frames: pre-fill over a frame, latency cap and capacity two frames above", () => {
    near(ringSettings(1, least), { prefillSeconds: 1.05, maxLatencySeconds: 3.05, capacitySeconds: 5.05 });
  });
});

describe("texts", () => {
  it("says when a steer is heard in seconds, never as a sample position", () => {
    assert.equal(describeAck(441000, 88200, 44100), "heard in 8.0 s");
    assert.equal(describeAck(441000, 441000 - 2205, 44100), "heard in 0.1 s");
    assert.equal(describeAck(441000, 441000 - 2000, 44100), "heard now");
    assert.equal(describeAck(441000, 500000, 44100), "heard now");
    assert.equal(describeAck(441000, null, 44100), "heard from 0:10.0 of the stream"); // not playing
  });

  it("writes stream times as a clock and prompts in a few words", () => {
    assert.equal(clockText(0), "0:00.0");
    assert.equal(clockText(7.34), "0:07.3");
    assert.equal(clockText(754.5), "12:34.5");
    assert.equal(clockText(3723.4), "1:02:03.4");
    assert.equal(clockText(59.96), "1:00.0");
    assert.equal(promptsLabel([{ text: "jazz" }]), "“jazz”");
    assert.equal(promptsLabel([{ text: "jazz" }, { text: "rain" }, { text: "piano" }]), "“jazz” + 2 more");
  });

  it("turns the form's musical controls into steer fields: empty tempo and key are free", () => {
    assert.deepEqual(controlsFromForm({ bpm: "", key: "", brightness: "-0.5", drums: "off", bass: "on" }),
      { bpm: null, key: null, brightness: -0.5, drums: "off", bass: "on" });
    assert.deepEqual(controlsFromForm({ bpm: "94", key: "F# major", brightness: "0", drums: "on", bass: "only" }),
      { bpm: 94, key: "F# major", brightness: 0, drums: "on", bass: "only" });
    assert.equal(KEYS.length, 25);
    assert.ok(KEYS.includes("Bb major") && KEYS.includes("C# minor"));
  });

  it("sums up the station's status", () => {
    const status = { lead_s: 2.345, listeners: 1, underruns: 0, denoising: 0.75, guidance: 7 };
    assert.equal(describeStatus(status), "Station: lead 2.3 s · 1 listener · 0 station underruns · denoising 0.75 · guidance 7");
    assert.match(describeStatus({ ...status, listeners: 2 }), / 2 listeners /);
  });
});
