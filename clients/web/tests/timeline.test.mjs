import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { COLUMN_SECONDS, pictureSamples, Timeline } from "../timeline.js";

const CHUNK = 512 * 441; // samples of a 512-column chunk at 44.1 kHz

function event(position) {
  return { type: "now_playing", position, prompts: [], seed: 1, alpha: 0, image: `/chunks/r/${position}.png` };
}

function recorded() {
  const shown = [];
  const upcoming = [];
  const timeline = new Timeline({ onShow: (e) => shown.push(e.position), onUpcoming: (e) => upcoming.push(e.position) });
  return { timeline, shown, upcoming };
}

describe("Timeline", () => {
  it("shows the first event at once, and later ones only when their position is heard", () => {
    const { timeline, shown, upcoming } = recorded();
    timeline.add(event(0));
    timeline.add(event(CHUNK));
    timeline.add(event(2 * CHUNK));
    assert.deepEqual(shown, [0]);
    assert.deepEqual(upcoming, [0, CHUNK, 2 * CHUNK]);
    timeline.update(CHUNK - 1);
    assert.deepEqual(shown, [0]);
    timeline.update(CHUNK);
    assert.deepEqual(shown, [0, CHUNK]);
    assert.equal(timeline.current.position, CHUNK);
  });

  it("moves to the last event heard, skipping those passed over, whatever order they came in", () => {
    const { timeline, shown } = recorded();
    timeline.add(event(0));
    timeline.add(event(3 * CHUNK));
    timeline.add(event(CHUNK));
    timeline.add(event(2 * CHUNK));
    timeline.update(2 * CHUNK + 10);
    assert.deepEqual(shown, [0, 2 * CHUNK]);
    timeline.update(2 * CHUNK + 20);
    assert.deepEqual(shown, [0, 2 * CHUNK]); // nothing new heard
    timeline.update(3 * CHUNK);
    assert.deepEqual(shown, [0, 2 * CHUNK, 3 * CHUNK]);
  });

  it("ignores events already heard and keeps the latest of two at one position", () => {
    const { timeline, shown } = recorded();
    timeline.add(event(CHUNK));
    assert.equal(timeline.add(event(0)), false);
    assert.equal(timeline.add(event(CHUNK)), false);
    const replaced = { ...event(2 * CHUNK), seed: 2 };
    assert.equal(timeline.add(event(2 * CHUNK)), true);
    timeline.add(replaced);
    assert.equal(timeline.upcoming.length, 1);
    timeline.update(5 * CHUNK);
    assert.deepEqual(shown, [CHUNK, 2 * CHUNK]);
    assert.equal(timeline.current, replaced);
  });

  it("starts again after reset (a station that restarted counts from 0)", () => {
    const { timeline, shown } = recorded();
    timeline.add(event(10 * CHUNK));
    timeline.add(event(11 * CHUNK));
    timeline.reset();
    assert.equal(timeline.current, null);
    timeline.add(event(0));
    timeline.update(10 * CHUNK); // the old upcoming event is gone
    assert.deepEqual(shown, [10 * CHUNK, 0]);
  });

  it("puts the playhead at the heard position's fraction of the picture", () => {
    const { timeline } = recorded();
    const samples = pictureSamples(512, 44100);
    assert.ok(Math.abs(samples - CHUNK) < 1e-6, `${samples}`);
    assert.equal(pictureSamples(256, 22050), 256 * COLUMN_SECONDS * 22050);
    assert.equal(timeline.playheadFraction(100, samples), null); // nothing shown yet
    timeline.add(event(CHUNK));
    assert.ok(Math.abs(timeline.playheadFraction(CHUNK + CHUNK / 4, samples) - 0.25) < 1e-9);
    assert.equal(timeline.playheadFraction(CHUNK, samples), 0);
    assert.ok(Math.abs(timeline.playheadFraction(2 * CHUNK, samples) - 1) < 1e-9);
    assert.equal(timeline.playheadFraction(CHUNK - 1, samples), null); // before the picture
    assert.equal(timeline.playheadFraction(2 * CHUNK + 500, samples), null); // after it
    assert.equal(timeline.playheadFraction(null, samples), null); // not playing
    assert.equal(timeline.playheadFraction(CHUNK + 10, null), null); // picture not loaded
  });

  it("places the playhead on a window's picture, which begins with its context", () => {
    const { timeline } = recorded();
    const samples = pictureSamples(512, 44100);
    const windowStart = CHUNK + 64 * 441; // the window's new columns: the last 64 of its picture
    timeline.add({ ...event(windowStart), image_position: windowStart - (512 - 64) * 441 });
    assert.ok(Math.abs(timeline.playheadFraction(windowStart, samples) - 448 / 512) < 1e-9);
  });
});
