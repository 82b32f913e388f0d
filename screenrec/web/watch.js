// The watch page: a recording while it is recorded (its live view, kept near the live edge),
// then its final once it is ready. Asks the REST API only; a token is taken from this tab's
// session, as the recorder page keeps it.
const TOKEN_KEY = "screenrec.token";
const POLL_MS = 2000;
const EDGE_S = 3; // further behind the newest frame than this: jump to the edge

const $ = (id) => document.getElementById(id);
const recordId = decodeURIComponent(location.pathname.split("/").pop() || "");
const state = { phase: "loading", recordId, source: null };
window.screenrec = state; // for tests and the curious

function say(phase, note) {
  state.phase = phase;
  $("watch-state").textContent = phase;
  $("watch-state").dataset.state = phase;
  $("watch-note").textContent = note;
}

async function status() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(`/recordings/${encodeURIComponent(recordId)}/status`, { headers });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`status ${response.status}`);
  return response.json();
}

function play(url, poster = "") {
  if (state.source === url) return;
  const player = $("watch-player");
  state.source = url;
  player.poster = poster;
  player.src = url;
  player.play().catch(() => {}); // autoplay may be refused; the controls are there
}

function keepNearTheEdge() {
  const player = $("watch-player");
  if (state.phase !== "live" || player.buffered.length === 0) return;
  const edge = player.buffered.end(player.buffered.length - 1);
  if (edge - player.currentTime > EDGE_S) player.currentTime = edge - 1;
}

async function tick() {
  let doc;
  try {
    doc = await status();
  } catch (err) {
    say("error", `The server did not answer (${err.message}); trying again.`);
    return;
  }
  if (doc === null) {
    say("missing", "There is no recording with this name.");
  } else if (doc.status === "recording" && doc.liveUrl) {
    say("live", "Live: you are watching this recording as it is made.");
    play(doc.liveUrl);
  } else if (doc.status === "ready") {
    say("ready", "The recording is finished; this is the final file.");
    play(doc.downloadUrl, doc.posterUrl || "");
    return "done";
  } else if (doc.status === "failed") {
    say("failed", `The recording could not be finished: ${doc.error || "unknown error"}.`);
    return "done";
  } else {
    say("waiting", "The recording is being finished…");
  }
  return null;
}

async function main() {
  $("watch-id").textContent = recordId;
  $("watch-player").addEventListener("ended", () => { state.source = null; });
  setInterval(keepNearTheEdge, 1000);
  while ((await tick()) !== "done") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

main();
