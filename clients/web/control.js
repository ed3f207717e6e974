/**
 * Steering: the control socket (`/control`), opened with the station's token in the
 * Sec-WebSocket-Protocol header (see protocol.js, controlSubprotocols), with requests matched
 * to their replies by id and the station's status asked every few seconds.
 */

import {
  CONTROL_SUBPROTOCOL, controlSubprotocols, encodeRequest, parseMessage, parseReply, statusRequest,
} from "./protocol.js";
import { pageUrl, socketUrl } from "./urls.js";

const REQUEST_TIMEOUT_MS = 10_000;
const STATUS_EVERY_MS = 5_000;

export class Control {
  /**
   * @param {object} [callbacks]
   * @param {(text: string, kind: "muted"|"ok"|"error") => void} [callbacks.onState]  the connection's state, for people
   * @param {(status: object) => void} [callbacks.onStatus]  each status reply
   */
  constructor({ onState = () => {}, onStatus = () => {} } = {}) {
    this.onState = onState;
    this.onStatus = onStatus;
    this.socket = null;
    this.ready = null; // a promise, settled when the socket opens or fails to
    this.token = "";
    this.nextId = 1;
    this.pending = new Map(); // id → {resolve, reject, timer}
    this.lastStatus = null;
    this.statusTimer = null;
  }

  /** Use `token` from now on, and connect with it ("" closes and says a token is needed). */
  setToken(token) {
    this.close();
    this.token = token;
    if (token) this.connect().catch(() => {});
    else this.onState("Steering needs the station's control token: open the player URL that "
      + "riffcast serve printed (…/#token=…), or paste the token here.", "muted");
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.ready = null;
    clearInterval(this.statusTimer);
    socket?.close(1000);
    this.failPending("control connection closed");
  }

  /** @returns {Promise<void>} resolved once the station accepted the token */
  connect() {
    let socket;
    try {
      socket = new WebSocket(socketUrl("control"), controlSubprotocols(this.token));
    } catch {
      // SyntaxError: characters a subprotocol cannot hold, so not the station's token.
      this.onState("wrong token", "error");
      return Promise.reject(new Error("wrong token"));
    }
    this.socket = socket;
    this.onState("connecting…", "muted");
    socket.onmessage = (event) => this.reply(event.data);
    this.ready = new Promise((resolve, reject) => {
      let opened = false;
      socket.onopen = () => {
        if (socket.protocol !== CONTROL_SUBPROTOCOL) {
          socket.close(1000);
          return;
        }
        opened = true;
        this.onState("connected", "ok");
        this.statusTimer = setInterval(() => this.refreshStatus(), STATUS_EVERY_MS);
        this.refreshStatus();
        resolve();
      };
      socket.onclose = async (event) => {
        if (this.socket !== socket) return reject(new Error("control connection closed")); // on purpose
        this.socket = null;
        this.ready = null;
        clearInterval(this.statusTimer);
        this.failPending("control connection closed");
        const why = opened
          ? `control connection closed (${[event.code, event.reason].join(" ").trim()}); Connect or Steer reconnects`
          : await this.refusal();
        this.onState(why, "error");
        reject(new Error(why));
      };
    });
    return this.ready;
  }

  /** Why the handshake failed: browsers hide the HTTP status of a refused WebSocket, so ask. */
  async refusal() {
    try {
      const response = await fetch(pageUrl("control"), {
        method: "HEAD",
        headers: { Authorization: `Bearer ${this.token}` },
        cache: "no-store",
      });
      if (response.status === 401) return "wrong token";
      if (response.status === 403) return "this page's origin may not steer the station (see --allow-origin)";
      if (response.status === 426) return "the station refused the control connection";
      return `control refused (HTTP ${response.status})`;
    } catch {
      return "station unreachable";
    }
  }

  /**
   * Send a request (connecting first if needed) and wait for its reply.
   * @param {object} request  from protocol.js's steerRequest or statusRequest
   * @returns {Promise<object>} the reply (ack, error or status), checked by parseReply
   */
  async request(request) {
    if (!this.token) throw new Error("control needs the token");
    await (this.ready ?? this.connect());
    if (this.socket?.readyState !== WebSocket.OPEN) throw new Error("control connection closed");
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("no reply from the station"));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(encodeRequest(request, id));
    });
  }

  /** A message from the station: the reply to a pending request (others are ignored). */
  reply(text) {
    const message = parseMessage(text);
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    try {
      waiting.resolve(parseReply(message));
    } catch (error) {
      waiting.reject(error);
    }
  }

  failPending(why) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error(why));
    }
    this.pending.clear();
  }

  async refreshStatus() {
    try {
      const status = await this.request(statusRequest());
      if (status.type !== "status") return;
      this.lastStatus = status;
      this.onStatus(status);
    } catch {
      // the close handler already says why
    }
  }
}
