/**
 * Which now_playing event is being heard. Events arrive ahead of the audio (by the station's
 * lead and the player's buffer); each is shown when the played position reaches its position.
 * No DOM here: the page is told through callbacks.
 */

/** Seconds of audio per spectrogram column: Riffusion's hop of 441 samples at 44.1 kHz. */
export const COLUMN_SECONDS = 0.01;

/**
 * Stream samples a spectrogram picture covers.
 * @param {number} widthColumns  the picture's width in pixels (one column each)
 * @param {number} sampleRate  the stream's (Hz)
 * @returns {number} samples
 */
export function pictureSamples(widthColumns, sampleRate) {
  return widthColumns * COLUMN_SECONDS * sampleRate;
}

export class Timeline {
  /**
   * @param {object} [callbacks]
   * @param {(event: object) => void} [callbacks.onUpcoming]  an event was queued (fetch its picture
   *   while the station still keeps it)
   * @param {(event: object) => void} [callbacks.onShow]  `event` is now the one to show
   */
  constructor({ onUpcoming = () => {}, onShow = () => {} } = {}) {
    this.onUpcoming = onUpcoming;
    this.onShow = onShow;
    this.reset();
  }

  /** Forget every event: after a reconnect the station may have restarted its positions. */
  reset() {
    this.upcoming = []; // now_playing events not heard yet, by position
    this.current = null; // the event shown
  }

  /**
   * Queue a now_playing event. The first one is shown at once: it is what the station plays
   * before we hear anything.
   * @param {{position: number}} event  position in stream samples
   * @returns {boolean} false when the event is at or before the one shown (already heard)
   */
  add(event) {
    if (this.current && event.position <= this.current.position) return false;
    this.upcoming = this.upcoming.filter((e) => e.position !== event.position);
    this.upcoming.push(event);
    this.upcoming.sort((a, b) => a.position - b.position);
    this.onUpcoming(event);
    if (!this.current) this.show(this.upcoming.shift());
    return true;
  }

  /**
   * Move to the last event at or before the position being heard.
   * @param {number} positionSamples  stream position being heard
   */
  update(positionSamples) {
    let heard = null;
    while (this.upcoming.length && this.upcoming[0].position <= positionSamples) heard = this.upcoming.shift();
    if (heard) this.show(heard);
  }

  show(event) {
    this.current = event;
    this.onShow(event);
  }

  /**
   * Where the playhead is over the shown event's picture.
   * @param {number|null} positionSamples  stream position being heard (null: not playing)
   * @param {number|null} samplesPerPicture  stream samples the picture covers (null: no picture)
   * @returns {number|null} the fraction of the picture's width, 0…1, or null when off the picture
   */
  playheadFraction(positionSamples, samplesPerPicture) {
    if (positionSamples === null || !this.current || !samplesPerPicture) return null;
    const start = this.current.image_position ?? this.current.position; // a window's picture starts earlier
    const x = (positionSamples - start) / samplesPerPicture;
    return x >= 0 && x <= 1 ? x : null;
  }
}
