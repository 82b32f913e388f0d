/**
 * sio.js: a small Socket.IO client for the browser, ours, with no dependencies.
 *
 * It speaks the subset of Socket.IO v4 that screenrec needs, exactly as the official
 * socket.io-client 4.x puts it on the wire:
 *   - Engine.IO protocol 4 over the websocket transport only (`/socket.io/?EIO=4&transport=websocket`),
 *     no long-polling and no upgrade. The server's ping ("2") is answered with a pong ("3"); no
 *     ping within pingInterval + pingTimeout means the connection is dead ("ping timeout").
 *   - Socket.IO protocol 5 packets: CONNECT with an `auth` payload, CONNECT_ERROR, DISCONNECT,
 *     EVENT and ACK, and their binary forms (BINARY_EVENT, BINARY_ACK): every Blob, ArrayBuffer
 *     or typed array in the arguments becomes `{"_placeholder":true,"num":i}` and is sent as its
 *     own binary WebSocket frame; received attachments come back as ArrayBuffers.
 *   - One namespace per Socket, taken from the URL path (`/recording`), as `io(url)` does.
 *   - Reconnection with exponential backoff and jitter after a lost transport; `auth` is read
 *     again on every attempt. A refused CONNECT (CONNECT_ERROR) or a server-side DISCONNECT is
 *     not retried automatically, as in the official client: call `connect()` again.
 *   - Acknowledgements with a timeout (`timeout(ms).emitWithAck`). Packets emitted while
 *     disconnected wait in a buffer and go out after the next CONNECT; acknowledgements still
 *     awaited when the connection drops fail with "socket has been disconnected".
 * Not covered: long-polling, multiplexing several namespaces over one WebSocket, volatile and
 * compressed flags, connection-state recovery.
 */

/** Socket.IO packet types (protocol 5). */
export const PacketType = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

const RESERVED = new Set(["connect", "connect_error", "disconnect", "reconnect_attempt"]);
const PACKET_RE = /^([0-6])(?:(\d+)-)?(?:(\/[^,]*)(?:,|$))?(\d+)?([\s\S]*)$/;

/**
 * True for values sent as binary attachments: Blob (and File), ArrayBuffer and its views.
 * @param {unknown} value
 * @returns {boolean}
 */
export function isBinary(value) {
  return (
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value) ||
    (typeof Blob !== "undefined" && value instanceof Blob)
  );
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !(value instanceof Date);
}

function hasBinary(value) {
  if (isBinary(value)) return true;
  if (Array.isArray(value)) return value.some(hasBinary);
  if (!isPlainObject(value)) return false;
  if (typeof value.toJSON === "function") return false;
  return Object.values(value).some(hasBinary);
}

function deconstruct(value, attachments) {
  if (isBinary(value)) {
    attachments.push(value);
    return { _placeholder: true, num: attachments.length - 1 };
  }
  if (Array.isArray(value)) return value.map((item) => deconstruct(item, attachments));
  if (!isPlainObject(value) || typeof value.toJSON === "function") return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) out[key] = deconstruct(item, attachments);
  return out;
}

function reconstruct(value, attachments) {
  if (Array.isArray(value)) return value.map((item) => reconstruct(item, attachments));
  if (!isPlainObject(value)) return value;
  if (value._placeholder === true && typeof value.num === "number") {
    if (!(value.num in attachments)) throw new Error("illegal attachment");
    return attachments[value.num];
  }
  const out = {};
  for (const [key, item] of Object.entries(value)) out[key] = reconstruct(item, attachments);
  return out;
}

/**
 * Encode a Socket.IO packet: `[text, ...attachments]`. EVENT and ACK packets whose data holds
 * binary values become BINARY_EVENT / BINARY_ACK with placeholders, as socket.io-parser does.
 * @param {{type: number, nsp?: string, id?: number, data?: unknown}} packet
 * @returns {[string, ...(Blob|ArrayBuffer|ArrayBufferView)[]]}
 */
export function encodePacket(packet) {
  let { type, data } = packet;
  const attachments = [];
  if ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(data)) {
    type = type === PacketType.EVENT ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
    data = deconstruct(data, attachments);
  }
  let text = String(type);
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    text += `${attachments.length}-`;
  }
  if (packet.nsp && packet.nsp !== "/") text += `${packet.nsp},`;
  if (packet.id !== undefined && packet.id !== null) text += String(packet.id);
  if (data !== undefined && data !== null) text += JSON.stringify(data);
  return [text, ...attachments];
}

/**
 * Decode the text part of a Socket.IO packet. `attachments` says how many binary frames
 * follow before the packet is complete (see `withAttachments`).
 * @param {string} text
 * @returns {{type: number, nsp: string, id?: number, data?: unknown, attachments: number}}
 */
export function decodePacket(text) {
  const m = PACKET_RE.exec(text);
  if (!m) throw new Error(`not a Socket.IO packet: ${text.slice(0, 40)}`);
  const packet = { type: Number(m[1]), nsp: m[3] || "/", attachments: 0 };
  if (m[2] !== undefined) packet.attachments = Number(m[2]);
  if (m[4] !== undefined) packet.id = Number(m[4]);
  if (m[5]) packet.data = JSON.parse(m[5]);
  return packet;
}

/**
 * Put received binary attachments back where their placeholders were.
 * @param {{data?: unknown}} packet a decoded packet
 * @param {ArrayBuffer[]} attachments the binary frames that followed it, in order
 * @returns {unknown} the packet's data with the binary values in place
 */
export function withAttachments(packet, attachments) {
  return reconstruct(packet.data, attachments);
}

function backoff(attempt, { reconnectionDelay, reconnectionDelayMax, randomizationFactor }) {
  const base = Math.min(reconnectionDelay * 2 ** Math.max(0, attempt - 1), reconnectionDelayMax);
  const jitter = base * randomizationFactor * (Math.random() * 2 - 1);
  return Math.max(0, Math.min(reconnectionDelayMax, Math.round(base + jitter)));
}

const DEFAULTS = {
  path: "/socket.io/",
  auth: undefined,
  autoConnect: true,
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  randomizationFactor: 0.5,
  ackTimeout: 10000,
};

/**
 * One Socket.IO connection to one namespace, like the official client's `io(url, opts)`.
 *
 * Events: `connect`, `disconnect` (reason), `connect_error` (Error; `err.data` holds the
 * server's data), `reconnect_attempt` (attempt number), and every server event by name.
 */
export class Socket {
  /**
   * @param {string} url e.g. "/recording" or "ws://host:8000/recording"; the path is the namespace
   * @param {object} [options] see DEFAULTS; `auth` is an object or a function returning one,
   *   read on every connection attempt
   */
  constructor(url, options = {}) {
    const base = globalThis.location ? globalThis.location.href : "http://localhost/";
    const target = new URL(url, base);
    const secure = target.protocol === "https:" || target.protocol === "wss:";
    this.opts = { ...DEFAULTS, ...options };
    this.nsp = target.pathname || "/";
    this.uri = `${secure ? "wss" : "ws"}://${target.host}${this.opts.path}?EIO=4&transport=websocket`;
    /** True while the namespace is connected. */
    this.connected = false;
    /** The namespace sid the server gave us, while connected. */
    this.id = undefined;
    this._handlers = new Map();
    this._acks = new Map();
    this._ids = 0;
    this._buffer = [];
    this._ws = null;
    this._engineOpen = false;
    this._partial = null;
    this._attempts = 0;
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._active = false;
    if (this.opts.autoConnect) this.connect();
  }

  /** True while the socket is connected or will try to (re)connect by itself. */
  get active() {
    return this._active;
  }

  /**
   * Register a listener for an event (server events, or connect/disconnect/connect_error/...).
   * @param {string} event
   * @param {(...args: any[]) => void} listener
   * @returns {this}
   */
  on(event, listener) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(listener);
    return this;
  }

  /**
   * Remove a listener registered with `on`.
   * @param {string} event
   * @param {(...args: any[]) => void} listener
   * @returns {this}
   */
  off(event, listener) {
    this._handlers.get(event)?.delete(listener);
    return this;
  }

  /**
   * Open the connection (or connect the namespace again after a refusal or a server-side
   * disconnect). Does nothing when already connected or connecting.
   * @returns {this}
   */
  connect() {
    if (this.connected) return this;
    this._active = true;
    if (this._ws && this._engineOpen) this._sendConnect();
    else if (!this._ws && !this._reconnectTimer) this._open();
    return this;
  }

  /**
   * Leave the namespace and close the connection; no reconnection follows.
   * @returns {this}
   */
  disconnect() {
    this._active = false;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    if (this.connected) this._sendPacket({ type: PacketType.DISCONNECT, nsp: this.nsp });
    this._closeTransport("io client disconnect");
    return this;
  }

  /**
   * Send an event. A function as the last argument is an acknowledgement callback, called
   * with the server's answer (no timeout unless set with `timeout(ms)`).
   * @param {string} event
   * @param {...any} args JSON values, with Blob/ArrayBuffer/typed arrays anywhere inside
   * @returns {this}
   */
  emit(event, ...args) {
    return this._emit(event, args, undefined);
  }

  /**
   * Send an event and wait for its acknowledgement, failing after `ackTimeout` ms.
   * @param {string} event
   * @param {...any} args
   * @returns {Promise<any>} the first argument of the server's acknowledgement
   */
  emitWithAck(event, ...args) {
    return this.timeout(this.opts.ackTimeout).emitWithAck(event, ...args);
  }

  /**
   * Bound the next acknowledgement: `socket.timeout(5000).emitWithAck("chunk", {...})`, or
   * `socket.timeout(5000).emit("x", data, (err, answer) => ...)` as in socket.io-client.
   * @param {number} ms
   * @returns {{emit: Function, emitWithAck: Function}}
   */
  timeout(ms) {
    return {
      emit: (event, ...args) => this._emit(event, args, ms),
      emitWithAck: (event, ...args) =>
        new Promise((resolve, reject) => {
          this._emit(event, [...args, (err, answer) => (err ? reject(err) : resolve(answer))], ms);
        }),
    };
  }

  _emit(event, args, timeoutMs) {
    if (RESERVED.has(event)) throw new Error(`"${event}" is a reserved event name`);
    const packet = { type: PacketType.EVENT, nsp: this.nsp, data: [event, ...args] };
    if (typeof args.at(-1) === "function") {
      const callback = packet.data.pop();
      packet.id = this._ids++;
      this._registerAck(packet, callback, timeoutMs);
    }
    if (this.connected) this._sendPacket(packet);
    else this._buffer.push(packet);
    return this;
  }

  _registerAck(packet, callback, timeoutMs) {
    const id = packet.id;
    if (timeoutMs === undefined) {
      this._acks.set(id, { callback: (...answer) => callback(...answer), withError: false });
      return;
    }
    const timer = setTimeout(() => {
      this._acks.delete(id);
      this._buffer = this._buffer.filter((p) => p !== packet);
      callback(new Error("operation has timed out"));
    }, timeoutMs);
    this._acks.set(id, {
      withError: true,
      sent: () => !this._buffer.includes(packet),
      callback: (...answer) => {
        clearTimeout(timer);
        callback(null, ...answer);
      },
      fail: (err) => {
        clearTimeout(timer);
        callback(err);
      },
    });
  }

  _fire(event, ...args) {
    for (const listener of [...(this._handlers.get(event) || [])]) {
      try {
        listener(...args);
      } catch (err) {
        console.error(`sio.js: a "${event}" listener threw`, err);
      }
    }
  }

  // -- transport (Engine.IO 4 over WebSocket) ------------------------------------------------

  _open() {
    const ws = new WebSocket(this.uri);
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    this._engineOpen = false;
    ws.onmessage = (e) => this._onFrame(ws, e.data);
    ws.onclose = () => this._onTransportClose(ws, this._engineOpen ? "transport close" : "websocket error");
  }

  _onFrame(ws, data) {
    if (ws !== this._ws) return;
    if (typeof data !== "string") {
      this._onAttachment(data);
      return;
    }
    const type = data[0];
    if (type === "0") {
      const handshake = JSON.parse(data.slice(1));
      this._pingWindow = handshake.pingInterval + handshake.pingTimeout;
      this._engineOpen = true;
      this._resetPingTimer();
      if (this._active) this._sendConnect();
    } else if (type === "2") {
      this._resetPingTimer();
      ws.send("3");
    } else if (type === "1") {
      this._closeTransport("transport close");
    } else if (type === "4") {
      this._onPacket(decodePacket(data.slice(1)));
    }
  }

  _resetPingTimer() {
    clearTimeout(this._pingTimer);
    this._pingTimer = setTimeout(() => this._closeTransport("ping timeout"), this._pingWindow);
  }

  _send(frame) {
    if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(frame);
  }

  _sendPacket(packet) {
    const [text, ...attachments] = encodePacket(packet);
    this._send(`4${text}`);
    for (const attachment of attachments) this._send(attachment);
  }

  _sendConnect() {
    const auth = typeof this.opts.auth === "function" ? this.opts.auth() : this.opts.auth;
    this._sendPacket({ type: PacketType.CONNECT, nsp: this.nsp, data: auth });
  }

  _closeTransport(reason) {
    const ws = this._ws;
    if (!ws) return;
    ws.onclose = null;
    ws.close();
    this._onTransportClose(ws, reason);
  }

  _onTransportClose(ws, reason) {
    if (ws !== this._ws) return;
    clearTimeout(this._pingTimer);
    this._ws = null;
    this._engineOpen = false;
    this._partial = null;
    const wasConnected = this.connected;
    this._onNamespaceClosed();
    if (wasConnected) this._fire("disconnect", reason);
    else if (this._active) this._fire("connect_error", new Error(reason));
    if (this._active && reason !== "io client disconnect") this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (!this.opts.reconnection || this._attempts >= this.opts.reconnectionAttempts) {
      this._active = false;
      return;
    }
    this._attempts += 1;
    const delay = backoff(this._attempts, this.opts);
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (!this._active) return;
      this._fire("reconnect_attempt", this._attempts);
      this._open();
    }, delay);
  }

  // -- Socket.IO packets -----------------------------------------------------------------------

  _onAttachment(buffer) {
    if (!this._partial) return;
    this._partial.buffers.push(buffer);
    if (this._partial.buffers.length === this._partial.packet.attachments) {
      const { packet, buffers } = this._partial;
      this._partial = null;
      packet.data = withAttachments(packet, buffers);
      this._dispatch(packet);
    }
  }

  _onPacket(packet) {
    if (packet.attachments > 0) this._partial = { packet, buffers: [] };
    else this._dispatch(packet);
  }

  _dispatch(packet) {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case PacketType.CONNECT:
        this.connected = true;
        this.id = packet.data && packet.data.sid;
        this._attempts = 0;
        this._fire("connect");
        for (const buffered of this._buffer.splice(0)) this._sendPacket(buffered);
        break;
      case PacketType.CONNECT_ERROR: {
        const data = packet.data;
        const err = new Error(typeof data === "string" ? data : data?.message ?? "refused");
        err.data = data?.data;
        this._active = false;
        this._fire("connect_error", err);
        break;
      }
      case PacketType.DISCONNECT:
        this._active = false;
        this._onNamespaceClosed();
        this._fire("disconnect", "io server disconnect");
        break;
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT:
        this._onEvent(packet);
        break;
      case PacketType.ACK:
      case PacketType.BINARY_ACK: {
        const ack = this._acks.get(packet.id);
        this._acks.delete(packet.id);
        if (ack) ack.callback(...(packet.data || []));
        break;
      }
    }
  }

  _onEvent(packet) {
    const [event, ...args] = packet.data || [];
    if (packet.id !== undefined) {
      let answered = false;
      args.push((...answer) => {
        if (answered) return;
        answered = true;
        this._sendPacket({ type: PacketType.ACK, nsp: this.nsp, id: packet.id, data: answer });
      });
    }
    this._fire(event, ...args);
  }

  _onNamespaceClosed() {
    this.connected = false;
    this.id = undefined;
    for (const [id, ack] of this._acks) {
      if (ack.withError && ack.sent()) {
        this._acks.delete(id);
        ack.fail(new Error("socket has been disconnected"));
      }
    }
  }
}

/**
 * Create a Socket, like socket.io-client's `io(url, options)`.
 * @param {string} url
 * @param {object} [options]
 * @returns {Socket}
 */
export function io(url, options) {
  return new Socket(url, options);
}
