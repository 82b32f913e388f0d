#!/usr/bin/env node
// Test harness: drives the screenrec server with the official socket.io-client 4.x,
// following the protocol spec's example (Buffers instead of Blobs, since Node can't send Blob).
//
// Usage: node client.js <baseUrl> <recordId> <webmFile> <pieces>
// Prints ONE JSON line to stdout and exits 0. On any error it prints a message to stderr and
// exits 1 at once: an `exception` about the real recording (e.g. a rejected chunk), a
// connect_error, an unexpected disconnect, or more than 60 s in total.
'use strict';
const fs = require('fs');
const { io } = require('socket.io-client');

const [baseUrl, recordId, webmFile, piecesArg] = process.argv.slice(2);
const pieces = Number.parseInt(piecesArg, 10);
if (!baseUrl || !recordId || !webmFile || !(pieces >= 1)) {
  console.error('usage: node client.js <baseUrl> <recordId> <webmFile> <pieces>');
  process.exit(1);
}

const TOTAL_TIMEOUT_MS = 60000;
const SEED = 0x5eed1234; // fixed seed => the same cut points on every run
const BAD_RECORD_ID = '../etc'; // the one deliberately invalid event (step 5)

// Small deterministic PRNG (mulberry32), returns floats in [0, 1).
function mulberry32(a) {
  return function () {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Cut `buf` into `n` non-empty pieces at pseudo-random (unequal) byte offsets.
function cut(buf, n) {
  if (buf.length < n) throw new Error(`file has ${buf.length} bytes, cannot cut into ${n} pieces`);
  const rand = mulberry32(SEED);
  const offsets = new Set();
  while (offsets.size < n - 1) offsets.add(1 + Math.floor(rand() * (buf.length - 1))); // in [1, len-1]
  const bounds = [0, ...[...offsets].sort((a, b) => a - b), buf.length];
  return bounds.slice(1).map((end, i) => buf.subarray(bounds[i], end));
}

const socket = io(baseUrl + '/recording', { transports: ['websocket'], reconnection: false });
const exceptions = []; // every `exception` event received, in order
let expectingBadException = false; // true only while step 5 waits for its exception
let done = false;

function fail(err) {
  if (done) return;
  done = true;
  console.error('client.js failed:', err && err.stack ? err.stack : err);
  socket.close();
  process.exit(1);
}
const overall = setTimeout(() => fail(new Error(`timed out after ${TOTAL_TIMEOUT_MS} ms`)), TOTAL_TIMEOUT_MS);
socket.on('connect_error', (err) => fail(new Error('connect_error: ' + err.message)));
socket.on('disconnect', (reason) => fail(new Error('unexpected disconnect: ' + reason)));
socket.on('exception', (e) => {
  exceptions.push(e);
  // Fail fast: any exception is fatal except the one step 5 provokes on purpose (anything not
  // about the real recording while step 5 waits; the test checks its code and recordId).
  const isTheBadOne = expectingBadException && !(e && e.recordId === recordId);
  if (!isTheBadOne) fail(new Error('server sent exception: ' + JSON.stringify(e)));
});

// Resolve with the payload of the first `event` whose payload satisfies `pred`.
function waitFor(event, pred = () => true) {
  return new Promise((resolve) => {
    const handler = (payload) => {
      if (!pred(payload)) return;
      socket.off(event, handler);
      resolve(payload);
    };
    socket.on(event, handler);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const parts = cut(fs.readFileSync(webmFile), pieces);

  // 1. start -> started {recordId, nextIndex}
  const startedP = waitFor('started', (p) => p && p.recordId === recordId);
  socket.emit('start', { recordId });
  const started = await startedP;

  // 2. fire-and-forget all chunks (as the spec's example), collect chunkSaved in arrival order
  const indices = [];
  const allSaved = new Promise((resolve) => {
    socket.on('chunkSaved', (p) => {
      if (!p || p.recordId !== recordId) return;
      indices.push(p.index);
      if (indices.length === pieces) resolve();
    });
  });
  for (const chunk of parts) socket.emit('chunk', { recordId, chunk });
  await allSaved;

  // 3. acks: re-`start` the already-started (still active) id; the server acks with its answer
  const resumeAck = await socket.timeout(5000).emitWithAck('start', { recordId });
  if (resumeAck === null || typeof resumeAck !== 'object') {
    throw new Error('resume ack is not an object: ' + JSON.stringify(resumeAck));
  }

  // 4. stop -> finished {recordId, downloadUrl, ...}
  const finishedP = waitFor('finished', (p) => p && p.recordId === recordId);
  socket.emit('stop', { recordId });
  const finished = await finishedP;

  // 5. one bad event: expect exception code invalid_record_id, and the socket must survive it
  expectingBadException = true;
  const excP = waitFor('exception', (e) => !(e && e.recordId === recordId));
  socket.emit('chunk', { recordId: BAD_RECORD_ID, chunk: Buffer.from('x') });
  const badException = await excP;
  expectingBadException = false;
  await sleep(300); // give a (wrong) server-side disconnect time to arrive
  const connectedAfterError = socket.connected;

  return {
    started,
    indices,
    finished,
    resumeAck,
    badException,
    exceptions,
    connectedAfterError,
  };
}

main().then(
  (result) => {
    if (done) return;
    done = true;
    clearTimeout(overall);
    socket.off('disconnect');
    socket.close();
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
  },
  fail,
);
