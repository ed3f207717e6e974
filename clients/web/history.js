/**
 * The "Aired" section: the last hour of what the station aired, from its as-run log
 * (`GET /history`, docs/history.md), newest first: when, what played (prompts, seed, tempo and
 * key), for how long, and its picture while the station still holds it. Refreshed every 15 s.
 */

import { $, clockText } from "./page.js";
import { pageUrl } from "./urls.js";

const REFRESH_MS = 15_000;
const WINDOW_MS = 3_600_000;
const SEGMENTS = 60;

/** Fetch the last hour and show it; a failed fetch leaves the list as it was. */
export async function showHistory() {
  const since = new Date(Date.now() - WINDOW_MS).toISOString();
  const response = await fetch(pageUrl(`/history?since=${encodeURIComponent(since)}&limit=${SEGMENTS}`),
    { cache: "no-store" });
  if (!response.ok) return;
  const { segments } = await response.json();
  $("history-list").replaceChildren(...segments.reverse().map(segmentItem));
  $("history-empty").hidden = segments.length > 0;
}

/** Show the history now and every REFRESH_MS. */
export function watchHistory() {
  const refresh = () => showHistory().catch(() => {});
  refresh();
  setInterval(refresh, REFRESH_MS);
}

/** @param {{start: string, end: string, prompts: {text: string, weight: number}[], seed: number,
 *           bpm: number|null, key: string|null, image: string|null}} segment */
function segmentItem(segment) {
  const item = document.createElement("li");
  if (segment.image) {
    const picture = document.createElement("img");
    picture.src = pageUrl(segment.image);
    picture.width = picture.height = 48;
    picture.alt = "";
    item.append(picture);
  }
  const when = document.createElement("time");
  when.dateTime = segment.start;
  when.textContent = new Date(segment.start).toLocaleTimeString();
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = segment.prompts.map(({ text }) => text).join(" + ");
  const seconds = (Date.parse(segment.end) - Date.parse(segment.start)) / 1000;
  const details = [`seed ${segment.seed}`, segment.bpm && `${segment.bpm} bpm`, segment.key, clockText(seconds)];
  const detail = document.createElement("span");
  detail.className = "muted";
  detail.textContent = details.filter(Boolean).join(" · ");
  item.append(when, " ", what, " ", detail);
  return item;
}
