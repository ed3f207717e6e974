/**
 * The page's header, listening figures and control messages: small writers of text into the
 * elements of index.html, so that the other modules never look elements up themselves.
 */

/** The element with this id in index.html. */
export const $ = (id) => document.getElementById(id);

/**
 * @param {string} state  idle | connecting | buffering | playing | reconnecting | closed | stopped
 * @param {string} [detail]  why, for people
 */
export function showConnection(state, detail = "") {
  $("connection").textContent = detail ? `${state}: ${detail}` : state;
  $("connection").dataset.state = state;
}

/** The station's name as the page's heading and title. */
export function showStation(name) {
  $("station").textContent = name;
  document.title = `${name} · riffcast`;
}

/**
 * @param {typeof import("./stats.js").stats} stats
 * @param {number} playedS  seconds handed to the audio output
 */
export function showListeningFigures(stats, playedS) {
  $("stat-played").textContent = playedS.toFixed(1);
  $("stat-buffer").textContent = Math.round(stats.bufferedMs);
  $("stat-underruns").textContent = stats.underruns;
  $("stat-gaps").textContent = stats.gaps;
  $("stat-dropped").textContent = Math.round(stats.droppedMs);
  $("stat-frames").textContent = stats.framesReceived;
}

/**
 * The control connection's state.
 * @param {string} text
 * @param {"muted"|"ok"|"error"} kind  its style
 */
export function showControlState(text, kind) {
  $("control-state").textContent = text;
  $("control-state").className = kind;
}

/** A status reply of the station, in a line. */
export function showStationStatus(status) {
  $("station-status").textContent = describeStatus(status);
}

/**
 * @param {{lead_s: number, listeners: number, underruns: number, denoising: number, guidance: number}} status
 * @returns {string} "Station: lead 2.4 s · 1 listener · …"
 */
export function describeStatus(status) {
  const figures = [
    `lead ${Number(status.lead_s).toFixed(1)} s`,
    `${status.listeners} listener${status.listeners === 1 ? "" : "s"}`,
    `${status.underruns} station underruns`,
    `denoising ${status.denoising}`,
    `guidance ${status.guidance}`,
  ];
  return `Station: ${figures.join(" · ")}`;
}

/**
 * A stream time for people: "0:07.3", "12:34.5" or "1:02:03.4".
 * @param {number} seconds
 * @returns {string}
 */
export function clockText(seconds) {
  const tenths = Math.max(0, Math.round(seconds * 10));
  const hours = Math.floor(tenths / 36000);
  const minutes = Math.floor(tenths / 600) % 60;
  const rest = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}
