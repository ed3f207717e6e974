/**
 * The "Now playing" section: the prompts, seed and alpha of the chunk being heard, where it
 * starts (stream time), its spectrogram and the playhead over it.
 */

import { $, clockText } from "./page.js";
import { streamSampleRate } from "./stats.js";
import { pictureSamples } from "./timeline.js";
import { pageUrl } from "./urls.js";

/** @param {import("./protocol.js").NowPlaying} event */
export function showNowPlaying(event) {
  $("now-playing-prompts").replaceChildren(
    ...event.prompts.map(({ text, weight }) => {
      const item = document.createElement("li");
      const weightLabel = document.createElement("span");
      weightLabel.className = "weight";
      weightLabel.textContent = `× ${Number(weight).toFixed(2)}`;
      item.append(text, " ", weightLabel);
      return item;
    }),
  );
  $("now-playing-seed").textContent = event.seed;
  $("now-playing-alpha").textContent = Number(event.alpha).toFixed(2);
  $("now-playing-position").textContent = `${clockText(event.position / streamSampleRate())} of the stream`;
  const image = $("spectrogram");
  // Shown once a picture has loaded: before that, the words in its place, never a broken image.
  image.onload = () => {
    image.hidden = false;
    $("spectrogram-waiting").hidden = true;
  };
  image.src = pageUrl(event.image);
}

/** Fetch an event's picture now: the station keeps only the last few chunks' pictures. */
export function prefetchPicture(event) {
  new Image().src = pageUrl(event.image);
}

/**
 * Stream samples the shown picture covers, or null while it has not loaded.
 * @param {number} sampleRate  the stream's (Hz)
 */
export function shownPictureSamples(sampleRate) {
  const image = $("spectrogram");
  return image.complete && image.naturalWidth ? pictureSamples(image.naturalWidth, sampleRate) : null;
}

/** @param {number|null} fraction  of the picture's width, 0…1 (null: hide the playhead) */
export function drawPlayhead(fraction) {
  const playhead = $("playhead");
  playhead.hidden = fraction === null;
  if (fraction !== null) playhead.style.left = `${(100 * fraction).toFixed(2)}%`;
}
