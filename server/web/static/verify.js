// kokreativ: a receipt or any log entry, checked against the public transparency log in this browser.
//
// Nothing here trusts the server's word.  For entry N the script fetches GET /v1/log/entries/N
// ({index, entry: b64, proof: C2SP tlog-proof text}) and checks, with WebCrypto (SHA-256, Ed25519):
//   1. the checkpoint in the proof is a C2SP signed note signed by the log's verifier key
//      (name+keyid+base64(0x01 ‖ key), as protocol/note.py: unknown signatures are ignored, a known
//      key whose signature fails refuses the note, no verified signature refuses it), and its origin
//      is the key's name (protocol/checkpoint.py);
//   2. the entry's RFC 6962 leaf hash SHA-256(0x00 ‖ entry), with the inclusion proof, leads to the
//      checkpoint's root (RFC 9162 §2.1.3.2, as protocol/merkle.py root_from_inclusion);
//   3. for a volunteer's receipt, that the entry commits to the volunteer's opening from
//      GET /v1/me/openings (protocol/commitments.py, server/tlog.py registration_ref).
//   4. that the checkpoint extends the largest one this browser verified before (localStorage, per
//      log; an RFC 6962 consistency proof from GET /v1/log/consistency), so a server cannot show this
//      browser one history and later another (log_inconsistent).
// The verifier key is the page's (data-kk-verify-key, or the form's "key" field, which a person may
// replace with the key the programme publishes), else the server's GET /v1/log/key.
//
// Hooks: a button [data-kk-verify-index="N"] inside an element [data-kk-verify-entry] checks receipt
// N with its opening; a form [data-kk-verify-form] (field "index", optional "key") checks any entry
// (no opening: the public has none).  The outcome goes into [data-kk-verify-result] of that element,
// as plain text and as data-kk-verify-outcome="<code>" (ok, or a reason code).  The texts come from
// <script type="application/json" id="kk-verify-messages"> (templates/public/verify_messages.html),
// else from GET /pruefen/meldungen/<html lang>, both in the page's language from the .po catalogues.
//
//   window.kkVerify = {checkEntry, rootFromInclusion, verifyConsistency, leafHash, verifyCheckpoint,
//                      parseVerifierKey, canonicalJson, checkOpening}
"use strict";

(function () {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const CARD_REF = "kokreativ.card-ref.v1\0";
  const CARD_REGISTRATION = "kokreativ.card-registration.v1\0";
  const EVENT_SEAL = "kokreativ.event-seal.v1\0";
  const PROOF_HEADER = "c2sp.org/tlog-proof@v1";
  const DAY_MS = 86400000;

  // A refusal with a stable code (the reason codes of docs/protocol.md where one fits).
  class VerifyError extends Error {
    constructor(code, detail) {
      super(detail || code);
      this.code = code;
    }
  }

  function fail(code, detail) { throw new VerifyError(code, detail); }

  // Standard base64 that must re-encode to exactly the text (one spelling per value, as the server).
  function unb64(text, code) {
    let raw;
    try { raw = atob(text); } catch (e) { fail(code, "not base64"); }
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    if (b64(bytes) !== text) fail(code, "not canonical base64");
    return bytes;
  }

  function b64(bytes) {
    let text = "";
    bytes.forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text);
  }

  function hex(bytes) {
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function fromHex(text, code) {
    if (!/^([0-9a-f]{2})*$/.test(text)) fail(code, "not lowercase hex");
    const bytes = new Uint8Array(text.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.substr(2 * i, 2), 16);
    return bytes;
  }

  function concat() {
    const parts = Array.from(arguments, function (p) { return typeof p === "string" ? encoder.encode(p) : p; });
    const out = new Uint8Array(parts.reduce(function (n, p) { return n + p.length; }, 0));
    let at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // --- RFC 6962 Merkle trees (protocol/merkle.py) ------------------------------------------------

  function leafHash(entry) { return sha256(concat(new Uint8Array([0]), entry)); }
  function nodeHash(left, right) { return sha256(concat(new Uint8Array([1]), left, right)); }

  // The root that proof implies for leaf hash `leaf` at `index` in a tree of `size` (RFC 9162 §2.1.3.2).
  // BigInt: sizes go past 2^31, where JavaScript's bit operators stop.
  async function rootFromInclusion(leaf, index, size, proof) {
    if (leaf.length !== 32 || proof.some(function (p) { return p.length !== 32; })) fail("bad_proof", "a hash is not 32 bytes");
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    if (fn < 0n || fn > sn) fail("bad_proof", "the leaf is not in the tree");
    for (const p of proof) {
      if (sn === 0n) fail("bad_proof", "inclusion proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) fail("bad_proof", "inclusion proof is too short");
    return r;
  }

  // Throw unless the tree `newRoot` of `newSize` extends `oldRoot` of `oldSize` (RFC 9162 §2.1.4.2,
  // as protocol/merkle.py verify_consistency).
  async function verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot) {
    const fork = function (why) { fail("log_inconsistent", why); };
    let m = BigInt(oldSize), n = BigInt(newSize);
    if (m < 0n || m > n) fork("a smaller tree cannot extend a bigger one");
    if (m === n) {
      if (proof.length || !equal(oldRoot, newRoot)) fork("same size, different roots");
      return;
    }
    if (m === 0n) { if (proof.length) fork("proof from the empty tree must be empty"); return; }
    if (!proof.length) fork("empty consistency proof");
    const path = proof.slice();
    if ((m & (m - 1n)) === 0n) path.unshift(oldRoot);
    let fn = m - 1n, sn = n - 1n;
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) fork("consistency proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr); sr = await nodeHash(c, sr);
        if ((fn & 1n) === 0n) { while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; } }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) fork("consistency proof is too short");
    if (!equal(fr, oldRoot) || !equal(sr, newRoot)) fork("the roots do not match: the log forked");
  }

  // --- What this browser saw before: a witness of one ---------------------------------------------
  // The largest checkpoint this browser verified, per log (localStorage, public data only).  A later
  // check must extend it (a consistency proof), so a server cannot rewrite history it showed here.

  function seenKey(origin) { return "kokreativ.verify.seen:" + origin; }

  function seen(origin) {
    try {
      const stored = JSON.parse(localStorage.getItem(seenKey(origin)) || "null");
      return stored && { size: BigInt(stored.size), root: unb64(stored.root, "log_inconsistent") };
    } catch (e) {
      return null;  // storage off or damaged: nothing seen before
    }
  }

  function remember(checkpoint) {
    try {
      localStorage.setItem(seenKey(checkpoint.origin), JSON.stringify({ size: String(checkpoint.size), root: b64(checkpoint.root) }));
    } catch (e) { /* storage off: the next check just starts afresh */ }
  }

  // The proof that the tree of `to` extends that of `from`; a server that cannot give it (its log is
  // smaller now than the `to` this browser saw) has lost or rewritten history.
  async function consistencyProof(from, to) {
    if (from === 0n || from === to) return [];
    let response;
    try { response = await fetch("/v1/log/consistency?from=" + from + "&to=" + to); }
    catch (e) { fail("unreachable", String(e)); }
    if (response.status === 400) fail("log_inconsistent", "the log is smaller than this browser saw before");
    if (!response.ok) fail("unreachable", "consistency: " + response.status);
    const answer = await response.json();
    return (answer.hashes || []).map(function (h) { return unb64(h, "log_inconsistent"); });
  }

  async function witness(checkpoint) {
    const before = seen(checkpoint.origin);
    if (!before) {
      remember(checkpoint);
    } else if (before.size <= checkpoint.size) {
      const proof = await consistencyProof(before.size, checkpoint.size);
      await verifyConsistency(before.size, checkpoint.size, proof, before.root, checkpoint.root);
      remember(checkpoint);
    } else {
      // An older state (a cache, a slow mirror) is fine if the one seen before extends it.
      const proof = await consistencyProof(checkpoint.size, before.size);
      await verifyConsistency(checkpoint.size, before.size, proof, checkpoint.root, before.root);
    }
  }

  // --- C2SP signed notes and checkpoints (protocol/note.py, protocol/checkpoint.py) -------------

  function checkKeyName(name) {
    if (!name || name.includes("+") || /\s/u.test(name)) fail("bad_note", "bad key name");
  }

  async function keyId(name, publicKey) {
    return (await sha256(concat(name + "\n", new Uint8Array([1]), publicKey))).slice(0, 4);
  }

  // `name+<8 hex>+<base64(0x01 ‖ key)>`; the ID must match the key, so a typo cannot pass.
  async function parseVerifierKey(text) {
    const first = text.indexOf("+"), second = text.indexOf("+", first + 1);
    if (first < 0 || second < 0) fail("bad_key", "a verifier key is name+keyid+base64");
    const name = text.slice(0, first), id = text.slice(first + 1, second);
    checkKeyName(name);
    if (!/^[0-9a-f]{8}$/.test(id)) fail("bad_key", "a key ID is 8 lowercase hex digits");
    const raw = unb64(text.slice(second + 1), "bad_key");
    if (raw.length !== 33 || raw[0] !== 1) fail("bad_key", "only Ed25519 keys");
    const publicKey = raw.slice(1);
    if (hex(await keyId(name, publicKey)) !== id) fail("bad_key", "the key ID does not match the key");
    return { name: name, keyId: id, publicKey: publicKey };
  }

  function parseNote(whole) {
    if (/[\u0000-\u0009\u000b-\u001f]/.test(whole)) fail("bad_note", "control characters");
    if (!whole.endsWith("\n")) fail("bad_note", "a note ends with a newline");
    const split = whole.lastIndexOf("\n\n");
    if (split < 0) fail("bad_note", "no blank line before the signatures");
    const text = whole.slice(0, split + 1);
    const lines = whole.slice(split + 2).split("\n").slice(0, -1);
    if (!lines.length) fail("bad_note", "no signature");
    const signatures = lines.map(function (line) {
      if (!line.startsWith("\u2014 ")) fail("bad_note", "a signature line starts with an em dash");
      const rest = line.slice(2), space = rest.indexOf(" ");
      if (space < 0 || rest.indexOf(" ", space + 1) >= 0) fail("bad_note", "a signature line is '— <name> <base64>'");
      const name = rest.slice(0, space);
      checkKeyName(name);
      const raw = unb64(rest.slice(space + 1), "bad_note");
      if (raw.length < 5) fail("bad_note", "a signature holds a key ID and the signature");
      return { name: name, keyId: hex(raw.slice(0, 4)), signature: raw.slice(4) };
    });
    return { text: text, signatures: signatures };
  }

  async function verifyNote(whole, verifier) {
    const note = parseNote(whole);
    const key = await crypto.subtle.importKey("raw", verifier.publicKey, { name: "Ed25519" }, false, ["verify"]);
    let verified = false;
    for (const sig of note.signatures) {
      if (sig.name !== verifier.name || sig.keyId !== verifier.keyId) continue;  // someone else's: ignored
      if (sig.signature.length !== 64) fail("bad_signature", "wrong signature length");
      const good = await crypto.subtle.verify({ name: "Ed25519" }, key, sig.signature, encoder.encode(note.text));
      if (!good) fail("bad_signature", "the log's signature does not verify");
      verified = true;
    }
    if (!verified) fail("note_unverified", "no signature by the log's key");
    return note.text;
  }

  // The checkpoint {origin, size, root} of a signed note, checked with `verifier` (origin = its name).
  async function verifyCheckpoint(whole, verifier) {
    const text = await verifyNote(whole, verifier);
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || lines.some(function (l) { return !l; })) fail("bad_checkpoint", "too few lines");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("bad_checkpoint", "tree size");
    const root = unb64(lines[2], "bad_checkpoint");
    if (root.length !== 32) fail("bad_checkpoint", "root hash is not 32 bytes");
    if (lines[0] !== verifier.name) fail("bad_checkpoint", "the checkpoint is of another log");
    return { origin: lines[0], size: BigInt(lines[1]), root: root };
  }

  function parseTlogProof(text) {
    const split = text.indexOf("\n\n");
    if (split < 0) fail("bad_proof", "no checkpoint");
    const lines = text.slice(0, split).split("\n");
    if (lines.shift() !== PROOF_HEADER) fail("bad_proof", "not a tlog-proof");
    if (lines.length && lines[0].startsWith("extra ")) lines.shift();
    const head = /^index (0|[1-9][0-9]*)$/.exec(lines.shift() || "");
    if (!head) fail("bad_proof", "no index");
    const hashes = lines.map(function (line) { return unb64(line, "bad_proof"); });
    return { index: BigInt(head[1]), hashes: hashes, checkpoint: text.slice(split + 2) };
  }

  // --- Commitments (protocol/commitments.py) ----------------------------------------------------

  // Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True).
  function canonicalJson(value) {
    if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (k) {
        return canonicalJson(k) + ":" + canonicalJson(value[k]);
      }).join(",") + "}";
    }
    return JSON.stringify(value).replace(/[\u0080-\uffff]/g, function (ch) {
      return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
    });
  }

  async function commit(domain, salt, value) {
    return hex(await sha256(concat(domain, fromHex(salt, "opening_mismatch"), value)));
  }

  function signedBody(entry) {
    try { return JSON.parse(decoder.decode(unb64(entry.body, "opening_mismatch"))); }
    catch (e) { if (e instanceof VerifyError) throw e; fail("opening_mismatch", "the signed body is not JSON"); }
  }

  // Raise opening_mismatch unless the parsed log entry commits to `item` (an item of /v1/me/openings).
  async function checkOpening(entry, item) {
    const mismatch = function (why) { fail("opening_mismatch", why); };
    if (!item || item.kind !== entry.kind) mismatch("the entry is of another kind");
    if (typeof item.salt !== "string" && item.kind !== "decision") mismatch("no salt");
    const cardRef = function () { return commit(CARD_REF, item.salt, item.card); };
    if (entry.kind === "event") {
      const event = signedBody(entry);
      if (entry.v !== 2 || event.v !== 2) mismatch("not a sealed event");
      if (event.kiosk !== item.kiosk || event.seq !== item.seq) mismatch("another kiosk's event");
      const sealed = concat(canonicalJson(Object.assign({ card: item.card }, item.sealed)));
      if ((await commit(EVENT_SEAL, item.salt, sealed)) !== event.ref) mismatch("the event seals something else");
      if (entry.received_ms !== item.received_ms - (item.received_ms % DAY_MS)) mismatch("another day");
    } else if (entry.kind === "event_sealed") {
      if (entry.kiosk !== item.kiosk || entry.seq !== item.seq) mismatch("another kiosk's event");
      let ref = await cardRef();
      if (ref !== entry.ref && item.sealed) {
        ref = await commit(EVENT_SEAL, item.salt, canonicalJson(Object.assign({ card: item.card }, item.sealed)));
      }
      if (ref !== entry.ref) mismatch("the event names another card");
      if (item.body && hex(await sha256(unb64(item.body, "opening_mismatch"))) !== entry.hash) mismatch("other event bytes");
    } else if (entry.kind === "card") {
      if ((await commit(CARD_REGISTRATION, item.salt, item.card + "|" + item.volunteer)) !== entry.ref) mismatch("another card");
    } else if (entry.kind === "card_blocked") {
      if ((await cardRef()) !== entry.ref) mismatch("another card");
    } else if (entry.kind === "decision") {
      if (item.card !== undefined) {
        const decision = signedBody(entry);
        if (!decision.data || (await cardRef()) !== decision.data.ref) mismatch("the decision names another card");
      }
    } else {
      mismatch("no receipt of this kind");
    }
  }

  // --- The whole check --------------------------------------------------------------------------

  async function getJson(url, options) {
    let response;
    try { response = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, options)); }
    catch (e) { fail("unreachable", String(e)); }
    if (response.status === 404) fail("not_found", url);
    if (response.status === 401) fail("signed_out", url);
    if (!response.ok) fail("unreachable", url + ": " + response.status);
    try { return await response.json(); } catch (e) { fail("unreachable", "not JSON"); }
  }

  // The server's own verifier key, asked once per page (a page with many receipts checks each).
  let serverKeyAnswer = null;

  function serverKey() {
    if (!serverKeyAnswer) {
      serverKeyAnswer = getJson("/v1/log/key").then(function (answer) { return answer.verifier_key; });
      serverKeyAnswer.catch(function () { serverKeyAnswer = null; });  // asked again after a failure
    }
    return serverKeyAnswer;
  }

  // Check entry `index` against the log: {index, size, origin, kind}, or throw a VerifyError.
  // options: {key: verifier key text (default: the server's), opening: an item of /v1/me/openings}.
  async function checkEntry(index, options) {
    options = options || {};
    if (!crypto.subtle || !crypto.subtle.verify) fail("unsupported", "no WebCrypto here");
    if (!/^(0|[1-9][0-9]{0,15})$/.test(String(index))) fail("bad_index", "not an entry number");
    const verifier = await parseVerifierKey((options.key || (await serverKey())).trim());
    const answer = await getJson("/v1/log/entries/" + index);
    const proof = parseTlogProof(String(answer.proof));
    if (proof.index !== BigInt(index)) fail("bad_proof", "the proof is for another entry");
    let checkpoint;
    try { checkpoint = await verifyCheckpoint(proof.checkpoint, verifier); }
    catch (e) {
      if (e instanceof VerifyError) throw e;
      fail("unsupported", "this browser cannot check Ed25519 signatures: " + e);  // older browsers lack it
    }
    const entryBytes = unb64(String(answer.entry), "bad_proof");
    const root = await rootFromInclusion(await leafHash(entryBytes), proof.index, checkpoint.size, proof.hashes);
    if (!equal(root, checkpoint.root)) fail("bad_proof", "the proof does not lead to the signed root");
    await witness(checkpoint);
    let entry;
    try { entry = JSON.parse(decoder.decode(entryBytes)); } catch (e) { fail("bad_proof", "the entry is not JSON"); }
    if (options.opening !== undefined) await checkOpening(entry, options.opening);
    return { index: Number(index), size: Number(checkpoint.size), origin: checkpoint.origin, kind: entry.kind };
  }

  // --- The page ---------------------------------------------------------------------------------

  let messages = null;

  async function texts() {
    if (messages) return messages;
    const block = document.getElementById("kk-verify-messages");
    try {
      const language = encodeURIComponent(document.documentElement.lang || "de");
      messages = block ? JSON.parse(block.textContent) : await getJson("/pruefen/meldungen/" + language);
    } catch (e) {
      messages = {};
    }
    return messages;
  }

  function say(text, values) {
    return String(text).replace(/%\((\w+)\)s/g, function (_, name) { return values[name] === undefined ? "" : values[name]; });
  }

  async function show(result, code, values) {
    const all = await texts();
    result.setAttribute("data-kk-verify-outcome", code);
    result.textContent = say(all[code] || all.failed || code, values || {});
  }

  let openings = null;

  // The volunteer's opening of entry `index`: read once per page, and again for a receipt newer than that.
  async function myOpening(index) {
    const find = function () { return openings.find(function (o) { return String(o.index) === String(index); }); };
    for (let fresh = !openings; ; fresh = true) {
      if (fresh) openings = (await getJson("/v1/me/openings", { credentials: "same-origin" })).openings || [];
      const item = find();
      if (item) return item;
      if (fresh) fail("not_mine", "no opening for this entry");
    }
  }

  async function run(result, work, okCode) {
    await show(result, "checking", {});
    try {
      const checked = await work();
      await show(result, okCode, checked);
    } catch (e) {
      const code = e instanceof VerifyError ? e.code : "failed";
      if (window.console) console.info("kokreativ verify:", code, e.message);
      await show(result, code, {});
    }
  }

  function resultOf(element) {
    return element.querySelector("[data-kk-verify-result]");
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-kk-verify-index]");
    if (!button) return;
    const holder = button.closest("[data-kk-verify-entry]");
    const result = holder && resultOf(holder);
    if (!result) return;
    event.preventDefault();
    const index = button.getAttribute("data-kk-verify-index");
    const key = holder.getAttribute("data-kk-verify-key") || undefined;
    button.disabled = true;
    run(result, async function () {
      return checkEntry(index, { key: key, opening: await myOpening(index) });
    }, "ok_receipt").finally(function () { button.disabled = false; });
  });

  function checkForm(form) {
    const result = resultOf(form);
    if (!result) return false;
    const index = (form.elements.index.value || "").trim();
    const keyField = form.elements.key;
    const key = (keyField && keyField.value.trim()) || form.getAttribute("data-kk-verify-key") || undefined;
    run(result, function () { return checkEntry(index, { key: key }); }, "ok_entry");
    return true;
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.matches && form.matches("[data-kk-verify-form]") && checkForm(form)) event.preventDefault();
  });

  // A link to /pruefen?index=N checks entry N as the page opens (the form says so: data-kk-verify-auto).
  function autoCheck() {
    document.querySelectorAll("form[data-kk-verify-form][data-kk-verify-auto]").forEach(checkForm);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", autoCheck);
  else autoCheck();

  window.kkVerify = {
    checkEntry: checkEntry,
    checkOpening: checkOpening,
    rootFromInclusion: rootFromInclusion,
    verifyConsistency: verifyConsistency,
    leafHash: leafHash,
    verifyCheckpoint: verifyCheckpoint,
    parseVerifierKey: parseVerifierKey,
    canonicalJson: canonicalJson,
    unb64: unb64,
    b64: b64,
    hex: hex,
  };
})();
