/**
 * app.js: the recorder page. Captures the screen or a camera with MediaRecorder, streams 1 s
 * WebM chunks to `/recording` with a `seq` each, keeps every chunk until the server
 * acknowledges it, and after a lost connection resumes the same recordId and resends what
 * was not acknowledged, in seq order. Also the library (GET /recordings) and the token prompt.
 *
 * Test hook: `window.screenrec` is the live `state` object below (read it, don't write it).
 */

import { Socket } from "./sio.js";

const TOKEN_KEY = "screenrec.token";
const TIMESLICE_MS = 1000;
const ACK_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 120000;
const RETRY_MS = 1000;
/** What to record, best first: WebM where the browser can (Chrome, Firefox, Safari 18.4+),
 * else MP4 (older Safari records only H.264 + AAC; the server makes a faststart final.mp4). */
const MIME_TYPES = [
  "video/webm;codecs=vp9,opus",
  "video/webm;codecs=vp8,opus",
  "video/webm",
  "video/mp4;codecs=avc1,mp4a.40.2",
  "video/mp4;codecs=avc1,opus",
  "video/mp4",
];

/** Server error codes (docs/protocol.md) in words a person understands. */
const MESSAGES = {
  invalid_payload: "The server could not read what this page sent.",
  invalid_record_id: "The server did not accept this recording's name.",
  not_started: "The server does not know this recording.",
  already_finished: "The server has already finished this recording; nothing more can be added.",
  chunk_too_large: "A piece of the video was bigger than the server accepts.",
  limit_exceeded: "A limit set on the server was reached.",
  unauthorized: "The server needs a valid access token.",
  storage_error: "The server could not save a piece of the video. It will be sent again.",
  finalize_failed: "The server could not make the final video. Its pieces are kept.",
  busy: "The server is busy finishing this recording. Try again in a moment.",
  not_found: "That recording no longer exists.",
  internal_error: "Something went wrong on the server; its log says what.",
};
/** Codes after which sending the same chunk again can work. */
const RETRYABLE = new Set(["storage_error", "busy", "internal_error"]);
const MEDIA_ERRORS = {
  NotAllowedError: "Recording was not allowed (the permission prompt was dismissed or blocked).",
  NotFoundError: "No camera, microphone or screen to record was found.",
  NotReadableError: "The camera or microphone is being used by another program.",
  OverconstrainedError: "The camera cannot record in the requested format.",
};

/** Everything the page knows, for the UI and for tests (`window.screenrec`). */
const state = {
  phase: "idle", // idle, starting, recording, uploading, finishing, done, failed
  connection: "idle", // idle, connecting, connected, reconnecting, needs-token
  recordId: null,
  mimeType: null,
  produced: 0, // chunks MediaRecorder produced (non-empty)
  acked: 0, // chunks the server acknowledged
  bytesProduced: 0,
  bytesAcked: 0,
  pending: 0, // produced, not yet acknowledged
  lastIndex: -1, // highest index in a chunkSaved event
  reconnects: 0,
  elapsedMs: 0,
  error: null, // {code, message} of the last error shown
  finished: null, // the `finished` document
  library: [], // recordIds in the library list, newest first
};
window.screenrec = state;

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// -- formatting and messages ---------------------------------------------------------------

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function clock(ms) {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function explain(error) {
  const words = MESSAGES[error.code] || "Something went wrong.";
  return error.message ? `${words} (${error.message})` : words;
}

function showError(error, words = explain(error)) {
  state.error = error;
  const box = $("error");
  box.textContent = words;
  box.dataset.code = error.code || "";
  box.hidden = false;
}

function clearError() {
  state.error = null;
  $("error").hidden = true;
  $("error").textContent = "";
}

function setConnection(value, words) {
  state.connection = value;
  const el = $("conn-state");
  el.dataset.state = value;
  el.textContent = words || value;
}

// -- access token ------------------------------------------------------------------------

let tokenRequest = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/**
 * Ask for the access token (one dialog, however many callers wait) and keep it for this tab.
 * @param {boolean} rejected true when a token was sent and refused
 * @returns {Promise<string>}
 */
function askToken(rejected) {
  if (tokenRequest) return tokenRequest;
  const dialog = $("token-dialog");
  $("token-why").textContent = rejected
    ? "The server did not accept that token. Enter a valid one."
    : "This server needs an access token. Ask whoever runs it.";
  tokenRequest = new Promise((resolve) => {
    const form = $("token-form");
    const submitted = (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      form.removeEventListener("submit", submitted);
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      dialog.close();
      tokenRequest = null;
      resolve(value);
    };
    form.addEventListener("submit", submitted);
  });
  // The dialog blocks the page: offer Stop here, so capture can end while the token is found
  // (what was recorded is kept and uploaded once a token is accepted).
  $("token-stop").hidden = !(session && state.phase === "recording");
  dialog.showModal();
  $("token").focus();
  return tokenRequest;
}

class ApiError extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
  }
}

/** fetch() with the bearer token; a 401 asks for the token and tries again. */
async function api(path, init = {}) {
  for (;;) {
    const sent = token();
    const headers = new Headers(init.headers);
    if (sent) headers.set("Authorization", `Bearer ${sent}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401) {
      await askToken(Boolean(sent));
      continue;
    }
    const json = (response.headers.get("Content-Type") || "").includes("json");
    const body = json ? await response.json() : null;
    if (!response.ok) throw new ApiError(body?.error || { code: "http_error", message: `HTTP ${response.status}` });
    return body;
  }
}

// -- one recording -------------------------------------------------------------------------

/** Resolves promises when a condition they wait for becomes true; `notify()` re-checks. */
class Conditions {
  constructor() {
    this.waiting = [];
  }

  until(condition) {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ condition, resolve }));
  }

  notify() {
    const still = [];
    for (const waiter of this.waiting) {
      if (waiter.condition()) waiter.resolve();
      else still.push(waiter);
    }
    this.waiting = still;
  }
}

function pickMimeType() {
  return MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

async function captureStream(source, withMic) {
  if (source === "camera") {
    return navigator.mediaDevices.getUserMedia({ video: true, audio: withMic });
  }
  const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  if (!withMic) return screen;
  try {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    return new MediaStream([...screen.getVideoTracks(), ...mic.getAudioTracks()]);
  } catch (err) {
    screen.getTracks().forEach((t) => t.stop());
    throw err;
  }
}

/**
 * One recording: MediaRecorder -> pending chunks (by seq) -> acknowledged sends over one
 * Socket; resumes with `start` after every (re)connect and resends what is still pending.
 */
class Session {
  constructor(stream) {
    this.stream = stream;
    this.recordId = crypto.randomUUID();
    this.pending = new Map(); // seq -> Blob, in seq order, until acknowledged
    this.inflight = new Set();
    this.ready = false; // `start` answered on the current connection
    this.fatal = false;
    this.conditions = new Conditions();
    this.recorder = new MediaRecorder(stream, {
      mimeType: pickMimeType(),
      videoBitsPerSecond: 2_500_000,
      videoKeyFrameIntervalDuration: 1000,
    });
    this.recorderStopped = new Promise((resolve) => this.recorder.addEventListener("stop", resolve));
    this.socket = new Socket("/recording", {
      autoConnect: false,
      auth: () => (token() ? { token: token() } : undefined),
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      ackTimeout: ACK_TIMEOUT_MS,
    });
  }

  begin() {
    Object.assign(state, {
      phase: "recording", recordId: this.recordId, mimeType: this.recorder.mimeType,
      produced: 0, acked: 0, bytesProduced: 0, bytesAcked: 0, pending: 0, lastIndex: -1,
      reconnects: 0, elapsedMs: 0, finished: null,
    });
    const s = this.socket;
    s.on("connect", () => this.onConnect());
    s.on("disconnect", (reason) => this.onDisconnect(reason));
    s.on("connect_error", (err) => this.onConnectError(err));
    s.on("reconnect_attempt", (n) => {
      state.reconnects += 1;
      setConnection("reconnecting", `reconnecting (attempt ${n})`);
    });
    s.on("chunkSaved", (saved) => {
      if (saved.recordId === this.recordId) state.lastIndex = Math.max(state.lastIndex, saved.index);
    });
    s.on("exception", (error) => {
      if (error.recordId === this.recordId || !error.recordId) console.warn("screenrec:", error);
    });
    this.recorder.addEventListener("dataavailable", (event) => this.onData(event.data));
    this.stream.getVideoTracks()[0]?.addEventListener("ended", () => this.stop());
    setConnection("connecting", "connecting…");
    s.connect();
    this.startedAt = performance.now();
    // MP4 fragments start at keyframes; Safari sends empty blobs below 1 s (never go lower).
    this.recorder.start(Math.max(TIMESLICE_MS, 1000));
    this.ticker = setInterval(() => this.tick(), 250);
    render();
  }

  tick() {
    if (this.recorder.state !== "inactive") state.elapsedMs = performance.now() - this.startedAt;
    render();
  }

  onData(blob) {
    if (!blob || blob.size === 0) return; // Chrome's last blob can be empty: nothing to keep
    const seq = state.produced;
    this.pending.set(seq, blob);
    state.produced += 1;
    state.bytesProduced += blob.size;
    this.update();
    this.pump();
  }

  async onConnect() {
    setConnection("connected");
    this.ready = false;
    if (state.phase === "finishing") {
      this.ready = true; // `stop` is retried as is; `start` would refuse a finished id
      this.update();
      return;
    }
    try {
      const answer = await this.socket.emitWithAck("start", { recordId: this.recordId });
      if (answer?.error) return this.fail(answer.error);
      this.ready = this.socket.connected;
      this.pump();
      this.update();
    } catch {
      if (this.socket.connected) setTimeout(() => this.onConnect(), RETRY_MS); // timed out
    }
  }

  onDisconnect(reason) {
    this.ready = false;
    if (this.fatal || state.phase === "done") return;
    setConnection("reconnecting", `lost (${reason}); reconnecting…`);
    if (!this.socket.active) setTimeout(() => this.socket.connect(), RETRY_MS); // server said bye
  }

  async onConnectError(err) {
    // A refusal carries {code, message} in err.data; a network failure carries nothing.
    const refusal = err.data && typeof err.data.code === "string" ? err.data : null;
    if (refusal?.code === "unauthorized") {
      setConnection("needs-token", "needs an access token");
      await askToken(Boolean(token()));
      setConnection("connecting", "connecting…");
      this.socket.connect();
    } else if (refusal || !this.socket.active) {
      showError(refusal ?? { code: "connect_error", message: err.message });
      setTimeout(() => this.socket.connect(), 5 * RETRY_MS);
    } else {
      setConnection("reconnecting", "server unreachable; retrying…");
    }
  }

  /** Send every pending chunk that is not already on its way, in seq order. */
  pump() {
    if (!this.ready || this.fatal) return;
    for (const [seq, blob] of this.pending) {
      if (this.inflight.has(seq)) continue;
      this.inflight.add(seq);
      this.send(seq, blob);
    }
  }

  async send(seq, blob) {
    let again = false;
    try {
      const answer = await this.socket.emitWithAck("chunk", { recordId: this.recordId, seq, chunk: blob });
      if (answer?.error) {
        again = RETRYABLE.has(answer.error.code);
        if (again) showError(answer.error);
        else this.fail(answer.error);
      } else if (this.pending.delete(seq)) {
        state.acked += 1;
        state.bytesAcked += blob.size;
      }
    } catch {
      again = this.socket.connected; // a timeout; after a disconnect, onConnect resends
    } finally {
      this.inflight.delete(seq);
    }
    if (again) setTimeout(() => this.pump(), RETRY_MS);
    this.update();
  }

  /** Stop recording, wait until every chunk is acknowledged, then `stop` and show the final. */
  async stop() {
    if (state.phase !== "recording") return;
    state.phase = "uploading";
    this.recorder.stop();
    await this.recorderStopped; // the last dataavailable comes before `stop`
    this.stream.getTracks().forEach((track) => track.stop());
    this.update();
    await this.conditions.until(() => this.pending.size === 0 || this.fatal);
    if (this.fatal) return;
    state.phase = "finishing";
    this.ready = this.socket.connected;
    this.update();
    while (!this.fatal) {
      await this.conditions.until(() => this.ready || this.fatal);
      if (this.fatal) return;
      try {
        const doc = await this.socket
          .timeout(STOP_TIMEOUT_MS)
          .emitWithAck("stop", { recordId: this.recordId, chunks: state.produced });
        if (doc?.error) return this.fail(doc.error);
        return this.finish(doc);
      } catch {
        if (this.socket.connected) await sleep(RETRY_MS); // else: retried after reconnecting
      }
    }
  }

  finish(doc) {
    state.phase = "done";
    state.finished = doc;
    this.close();
    clearError();
    const player = $("player");
    player.poster = doc.posterUrl || "";
    player.src = doc.downloadUrl;
    $("download").href = doc.downloadUrl;
    $("result").hidden = false;
    setConnection("idle");
    render();
    loadLibrary();
  }

  fail(error) {
    this.fatal = true;
    state.phase = "failed";
    showError(error);
    if (this.recorder.state !== "inactive") this.recorder.stop();
    this.stream.getTracks().forEach((track) => track.stop());
    this.close();
    setConnection("idle");
    render();
  }

  close() {
    clearInterval(this.ticker);
    this.socket.disconnect();
    this.conditions.notify();
    if (session === this) session = null;
  }

  update() {
    state.pending = this.pending.size;
    this.conditions.notify();
    render();
  }
}

let session = null;

async function record(event) {
  event.preventDefault();
  if (session) return;
  clearError();
  $("result").hidden = true;
  if (!window.MediaRecorder || !navigator.mediaDevices) {
    showError({ code: "unsupported", message: "this browser cannot record (no MediaRecorder)" });
    return;
  }
  const source = new FormData($("record-form")).get("source");
  state.phase = "starting";
  render();
  try {
    const stream = await captureStream(source, $("mic").checked);
    session = new Session(stream);
    session.begin();
    $("stop").focus();
  } catch (err) {
    state.phase = "idle";
    const words = MEDIA_ERRORS[err.name] || `Could not start recording: ${err.message}`;
    showError({ code: err.name, message: err.message }, words);
    render();
  }
}

// -- rendering -------------------------------------------------------------------------------

const PHASES = {
  idle: "Ready to record.",
  starting: "Asking for permission…",
  recording: "Recording.",
  uploading: "Stopped. Sending what is left…",
  finishing: "The server is making the final video…",
  done: "Done. Your recording is below.",
  failed: "The recording stopped because of an error.",
};

function render() {
  const busy = ["starting", "recording", "uploading", "finishing"].includes(state.phase);
  $("record").disabled = busy;
  $("stop").disabled = state.phase !== "recording";
  for (const input of $("record-form").querySelectorAll("input")) {
    input.disabled = busy || input.dataset.unavailable === "yes";
  }
  const phase = $("phase");
  phase.textContent = PHASES[state.phase];
  phase.dataset.phase = state.phase;
  $("elapsed").textContent = clock(state.elapsedMs);
  $("chunks").textContent = `${state.acked} of ${state.produced}`;
  $("megabytes").textContent = megabytes(state.bytesAcked);
  document.body.dataset.phase = state.phase;
}

// -- library ---------------------------------------------------------------------------------

function describe(rec) {
  const parts = [rec.status];
  if (rec.format) parts.push(rec.format.toUpperCase());
  if (rec.durationMs != null) parts.push(clock(rec.durationMs));
  parts.push(megabytes(rec.finalBytes ?? rec.bytes));
  return parts.join(" · ");
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

function libraryItem(rec) {
  const li = document.createElement("li");
  li.dataset.recordId = rec.recordId;
  li.dataset.status = rec.status;
  const title = document.createElement("h3");
  title.textContent = new Date(rec.createdAt).toLocaleString();
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = describe(rec);
  const id = document.createElement("p");
  id.className = "id";
  id.textContent = rec.recordId;
  const actions = document.createElement("div");
  actions.className = "actions";
  if (rec.downloadUrl) {
    const play = button("Play", () => playInViewer(rec));
    play.setAttribute("aria-label", `Play the recording from ${title.textContent}`);
    actions.append(play);
    const link = document.createElement("a");
    link.className = "button";
    link.href = rec.downloadUrl;
    link.download = `${rec.recordId}.${rec.format || "webm"}`;
    link.textContent = "Download";
    actions.append(link);
  }
  if (rec.recordId !== session?.recordId) {
    const del = button("Delete", () => remove(rec, del));
    del.className = "danger";
    del.dataset.what = `the recording from ${title.textContent}`;
    del.setAttribute("aria-label", `Delete ${del.dataset.what}`);
    actions.append(del);
  }
  if (rec.posterUrl) {
    const poster = document.createElement("img");
    poster.className = "poster";
    poster.src = rec.posterUrl;
    poster.alt = "";
    poster.loading = "lazy";
    li.append(poster);
  }
  li.append(title, meta, id, actions);
  return li;
}

function playInViewer(rec) {
  const player = $("viewer-player");
  player.poster = rec.posterUrl || "";
  player.src = rec.downloadUrl;
  $("viewer-title").textContent = `Playing the recording from ${new Date(rec.createdAt).toLocaleString()}`;
  $("viewer").hidden = false;
  $("viewer").dataset.recordId = rec.recordId;
  player.focus();
  player.play().catch(() => {}); // autoplay may be refused; the controls are there
}

async function remove(rec, del) {
  if (del.dataset.armed !== "yes") {
    del.dataset.armed = "yes"; // two presses, so one stray click or key never deletes
    del.textContent = "Press again to delete";
    del.setAttribute("aria-label", `Press again to delete ${del.dataset.what}`);
    setTimeout(() => {
      del.dataset.armed = "";
      del.textContent = "Delete";
      del.setAttribute("aria-label", `Delete ${del.dataset.what}`);
    }, 5000);
    return;
  }
  del.disabled = true;
  try {
    await api(`/recordings/${encodeURIComponent(rec.recordId)}?force=${rec.status === "recording"}`, {
      method: "DELETE",
    });
    if ($("viewer").dataset.recordId === rec.recordId) {
      $("viewer-player").removeAttribute("src");
      $("viewer").hidden = true;
    }
    await loadLibrary("Deleted.");
  } catch (err) {
    del.disabled = false;
    $("library-status").textContent = explain(err);
  }
}

/** Load `GET /recordings` (newest first) into the list. */
async function loadLibrary(prefix = "") {
  const status = $("library-status");
  status.textContent = "Loading…";
  try {
    const page = await api("/recordings?limit=50");
    const items = page.recordings.map(libraryItem);
    $("recordings").replaceChildren(...items);
    state.library = page.recordings.map((r) => r.recordId);
    const count = items.length ? `${items.length} recording${items.length === 1 ? "" : "s"}.` : "No recordings yet.";
    status.textContent = prefix ? `${prefix} ${count}` : count;
  } catch (err) {
    status.textContent = `Could not load the library: ${explain(err)}`;
  }
}

// -- start -------------------------------------------------------------------------------------

function init() {
  if (!navigator.mediaDevices?.getDisplayMedia) {
    const screen = document.querySelector('input[name="source"][value="screen"]');
    screen.dataset.unavailable = "yes";
    screen.closest("label").append(" (not available in this browser)");
    document.querySelector('input[name="source"][value="camera"]').checked = true;
  }
  $("record-form").addEventListener("submit", record);
  $("stop").addEventListener("click", () => session?.stop());
  $("token-stop").addEventListener("click", () => {
    $("token-stop").hidden = true;
    $("token").focus();
    session?.stop();
  });
  $("refresh").addEventListener("click", () => loadLibrary());
  $("token-dialog").addEventListener("cancel", (event) => event.preventDefault());
  window.addEventListener("beforeunload", (event) => {
    if (session) event.preventDefault(); // chunks not yet acknowledged would be lost
  });
  render();
  loadLibrary();
}

init();
