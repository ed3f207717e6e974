/**
 * The steering form: weighted prompts (rows added and removed), seed and transition length, and
 * the musical controls (tempo, key, brightness, drums, bass), filled from the station's status
 * until the operator edits it, sent as a steer request; once acknowledged, a countdown to when
 * the steer is heard ("“jazz” heard in 3.2 s"), redrawn as the stream plays (`tick`).
 *
 * The transition is not taken from the station: a steer from the page blends in over the form's
 * 2 chunks (index.html) — the first chunk heard is already half the new prompt and all of it
 * arrives 10 s later — where the station's default of 4 (serve --transition-chunks, kept smooth
 * for playlists) starts at a quarter and takes 20 s, which a newcomer hears as nothing happening.
 */

import { $, clockText } from "./page.js";
import { steerRequest } from "./protocol.js";

/**
 * When a steer is heard, in seconds, for a countdown redrawn as the stream plays.
 * @param {number} positionSamples  where the steer is heard from (stream samples)
 * @param {number|null|undefined} heardSamples  the stream position heard now (null: not playing)
 * @param {number} sampleRate  the stream's (Hz)
 * @returns {string} "heard in 3.2 s", "heard now", or, not playing, "heard from 1:23.4 of the stream"
 */
export function describeAck(positionSamples, heardSamples, sampleRate) {
  if (heardSamples === null || heardSamples === undefined) {
    return `heard from ${clockText(positionSamples / sampleRate)} of the stream`;
  }
  const inS = (positionSamples - heardSamples) / sampleRate;
  return inS >= 0.05 ? `heard in ${inS.toFixed(1)} s` : "heard now";
}

/**
 * A steer's prompts in a few words: "“jazz”", "“jazz” + 2 more".
 * @param {{text: string}[]} prompts
 */
export function promptsLabel(prompts) {
  const more = prompts.length > 1 ? ` + ${prompts.length - 1} more` : "";
  return `“${prompts[0].text}”${more}`;
}

/** The 24 keys the station takes, as it names them; "" (free) first. */
export const KEYS = ["", ..."C Db D Eb E F F# G Ab A Bb B".split(" ").map((tonic) => `${tonic} major`),
  ..."C C# D Eb E F F# G G# A Bb B".split(" ").map((tonic) => `${tonic} minor`)];

/**
 * The musical controls of a steer from the form's values.
 * @param {{bpm: string, key: string, brightness: string, drums: string, bass: string}} values
 * @returns {{bpm: number|null, key: string|null, brightness: number, drums: string, bass: string}}
 */
export function controlsFromForm({ bpm, key, brightness, drums, bass }) {
  return { bpm: bpm === "" ? null : Number(bpm), key: key === "" ? null : key, brightness: Number(brightness), drums, bass };
}

export class SteerForm {
  /**
   * @param {import("./control.js").Control} control
   * @param {object} hearing
   * @param {() => number|null|undefined} hearing.heardPosition  stream samples being heard (null: not playing)
   * @param {() => number} hearing.sampleRate  the stream's (Hz)
   */
  constructor(control, { heardPosition, sampleRate }) {
    this.control = control;
    this.heardPosition = heardPosition;
    this.sampleRate = sampleRate;
    this.rows = [{ text: "", weight: 1 }];
    this.pending = null; // the acknowledged steer not yet heard: {positionSamples, label}
    this.touched = false; // once the operator edits, status no longer fills the form
    $("steer-form").addEventListener("input", () => (this.touched = true));
    $("steer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.steer();
    });
    $("key").replaceChildren(...KEYS.map((key) => Object.assign(document.createElement("option"), {
      value: key, textContent: key || "free",
    })));
    $("add-prompt").addEventListener("click", () => {
      this.rows.push({ text: "", weight: 1 });
      this.render();
      $(`prompt-${this.rows.length - 1}-text`).focus();
    });
    this.render();
  }

  /** The Steer button works only with a token. */
  allowSteering(allowed) {
    $("steer").disabled = !allowed;
  }

  render() {
    const rows = this.rows.map((row, i) => {
      const div = document.createElement("div");
      div.className = "row prompt-row";
      const text = Object.assign(document.createElement("input"), {
        id: `prompt-${i}-text`, type: "text", value: row.text, placeholder: "prompt",
      });
      text.setAttribute("aria-label", `prompt ${i + 1}`);
      text.addEventListener("input", () => (row.text = text.value));
      const weight = Object.assign(document.createElement("input"), {
        id: `prompt-${i}-weight`, type: "number", step: "any", value: row.weight, className: "weight",
      });
      weight.setAttribute("aria-label", `weight of prompt ${i + 1}`);
      weight.addEventListener("input", () => (row.weight = weight.value));
      const remove = Object.assign(document.createElement("button"), {
        id: `prompt-${i}-remove`, type: "button", textContent: "Remove", disabled: this.rows.length === 1,
      });
      remove.addEventListener("click", () => {
        this.rows.splice(i, 1);
        this.touched = true;
        this.render();
      });
      div.append(text, weight, remove);
      return div;
    });
    $("prompts").replaceChildren(...rows);
  }

  /** Start from the station's settings (a status reply) until the operator edits the form. */
  fill(status) {
    $("seed").placeholder = `keep (${status.seed})`;
    if (this.touched) return;
    this.rows = status.prompts.map(({ text, weight }) => ({ text, weight }));
    this.render();
    if (status.bpm !== undefined) $("bpm").value = status.bpm ?? "";
    if (status.key !== undefined) $("key").value = status.key ?? "";
    for (const name of ["brightness", "drums", "bass"]) if (status[name] !== undefined) $(name).value = status[name];
  }

  async steer() {
    const prompts = this.rows
      .map(({ text, weight }) => ({ text: text.trim(), weight: Number(weight) }))
      .filter(({ text }) => text);
    if (!prompts.length) return this.result("enter at least one prompt", "error");
    const seed = $("seed").value === "" ? undefined : Number($("seed").value);
    const controls = controlsFromForm(Object.fromEntries(["bpm", "key", "brightness", "drums", "bass"].map((name) => [name, $(name).value])));
    const request = steerRequest({ prompts, transitionChunks: Number($("transition").value), seed, ...controls });
    this.pending = null;
    this.result("steering…", "muted");
    try {
      const reply = await this.control.request(request);
      if (reply.type !== "ack") return this.result(reply.error ?? JSON.stringify(reply), "error");
      $("steer-result").dataset.position = reply.position;
      this.pending = { positionSamples: reply.position, label: promptsLabel(prompts) };
      this.tick(this.heardPosition() ?? this.control.lastStatus?.position);
    } catch (error) {
      this.result(error.message, "error");
    }
  }

  /**
   * Redraw the countdown of the steer not yet heard (called every animation frame).
   * @param {number|null|undefined} heardSamples  the stream position heard now (null: not playing)
   */
  tick(heardSamples) {
    if (!this.pending) return;
    const { positionSamples, label } = this.pending;
    this.result(`${label} ${describeAck(positionSamples, heardSamples, this.sampleRate())}`, "ok");
    if (heardSamples !== null && heardSamples !== undefined && heardSamples >= positionSamples) this.pending = null;
  }

  result(text, kind) {
    $("steer-result").textContent = text;
    $("steer-result").className = kind;
    if (kind !== "ok") delete $("steer-result").dataset.position;
  }
}
