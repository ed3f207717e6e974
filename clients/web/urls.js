/**
 * URLs of the station, relative to the page, so that the player also works behind a reverse
 * proxy that serves the station under a path prefix.
 */

/**
 * URL of `path` on the station; a leading "/" stays under the page's prefix.
 * @param {string} path  "stream", "/chunks/…/….png", …
 * @param {string} [base]  the page's URL
 * @returns {URL}
 */
export function pageUrl(path, base = document.baseURI) {
  return new URL(path.replace(/^\/(?!\/)/, ""), base);
}

/**
 * WebSocket URL of `path` on the station: wss: for an https: page, ws: otherwise.
 * @param {string} path
 * @param {string} [base]  the page's URL
 * @returns {URL}
 */
export function socketUrl(path, base = document.baseURI) {
  const url = pageUrl(path, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}
