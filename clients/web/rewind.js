/**
 * The rewind controls: "−30 s", "Live" and a scrub bar over the station's rewind window
 * (`GET /window`: its first and live positions, docs/outputs.md). A seek restarts the stream at a
 * position in the window (`/stream?from=POSITION`, listener.js), after which the page plays on
 * from there, behind live; "Live" restarts it live.
 */

import { $ } from "./page.js";
import { pageUrl } from "./urls.js";
import { stats } from "./stats.js";

const BACK_SECONDS = 30;
const WINDOW_REFRESH_MS = 2_000;
const LIVE_WITHIN_S = 1.5; // closer than this to the live position reads as live

export class Rewind {
  /** @param {() => ({seek?: (position: number|null) => void}|null)} listener  the one playing, if any */
  constructor(listener) {
    this.listener = listener;
    this.window = null; // {first, end, sample_rate} and when it was read (performance.now())
    this.dragging = false;
    const scrub = $("scrub");
    scrub.addEventListener("input", () => { this.dragging = true; });
    scrub.addEventListener("change", () => {
      this.dragging = false;
      this.seek(Number(scrub.value));
    });
    $("back-30").addEventListener("click", () => {
      const heard = this.heard ?? this.liveEnd();
      if (heard !== null) this.seek(heard - BACK_SECONDS * this.window.sample_rate);
    });
    $("live").addEventListener("click", () => this.listener()?.seek?.(null));
    this.heard = null;
  }

  /** Read the window now and every WINDOW_REFRESH_MS; a failed read keeps the last one. */
  watch() {
    const refresh = async () => {
      const response = await fetch(pageUrl("window"), { cache: "no-store" });
      if (!response.ok) return;
      const window = await response.json();
      this.window = window.first === null ? null : { ...window, readMs: performance.now() };
    };
    const read = () => refresh().catch(() => {});
    read();
    setInterval(read, WINDOW_REFRESH_MS);
  }

  /** The live position now (stream samples), from the window read and the time since; null before. */
  liveEnd() {
    if (!this.window) return null;
    return this.window.end + ((performance.now() - this.window.readMs) / 1000) * this.window.sample_rate;
  }

  /** Seek to `position`, kept inside the window. */
  seek(position) {
    const listener = this.listener();
    const live = this.liveEnd();
    if (!listener?.seek || live === null) return;
    if (live - position < LIVE_WITHIN_S * this.window.sample_rate) listener.seek(null);
    else listener.seek(Math.max(this.window.first, Math.round(position)));
  }

  /** Each animation frame: the position heard (stream samples, or null when not playing). */
  tick(heard) {
    this.heard = heard;
    const live = this.liveEnd();
    const usable = Boolean(this.listener()?.seek) && live !== null && heard !== null;
    for (const id of ["back-30", "live", "scrub"]) $(id).disabled = !usable;
    if (!usable) return;
    const behindS = Math.max(0, (live - heard) / this.window.sample_rate);
    stats.behindLiveS = behindS;
    const scrub = $("scrub");
    scrub.min = String(this.window.first);
    scrub.max = String(Math.round(live));
    if (!this.dragging) scrub.value = String(Math.round(heard));
    $("behind").textContent = stats.from === null ? "live" : `${behindS.toFixed(1)} s behind live`;
  }
}
