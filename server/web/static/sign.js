// kokreativ: a coordinator's decisions, signed in the browser with a key that never leaves it.
//
// The device key is a WebCrypto Ed25519 key made non-extractable: the browser signs with it but
// refuses to export it, so neither this script nor the server can copy it.  It is kept in
// IndexedDB (database "kokreativ", store "keys", one record per person_id) and registered once on
// /console/account/device, where the server enrols its public half as a coordinator key.
//
// A form with data-sign="<kind>" is signed on submit: its fields go to the prepare URL
// (data-prepare, default /console/decisions/prepare) which answers the canonical bytes
// ({body_b64, opening?}); the browser signs exactly those bytes and posts {body, sig, opening?}
// to the submit URL (data-submit, default /console/decisions/submit).  Then the page goes to
// data-next (default: reloads itself), where the server's flash message says what happened.  data-sign="bulk" signs one decision per checked box (value: JSON fields).
//
//   window.kkSign = {ensureKey(personId), publicKey(personId), prepareAndSign(url, fields)}
"use strict";

(function () {
  const DB = "kokreativ";
  const STORE = "keys";

  function openDb() {
    return new Promise(function (resolve, reject) {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function withStore(mode, action) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        const tx = db.transaction(STORE, mode);
        const request = action(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function b64(bytes) {
    let text = "";
    new Uint8Array(bytes).forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text);
  }

  function unb64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // The stored record {privateKey, publicKey (raw, base64)} of this person, or null.
  function stored(personId) {
    return withStore("readonly", function (store) { return store.get(personId); });
  }

  // This browser's key for personId: the stored one, else a new non-extractable key pair.
  async function ensureKey(personId) {
    const found = await stored(personId);
    if (found) return found;
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const record = {
      privateKey: pair.privateKey,
      publicKey: b64(await crypto.subtle.exportKey("raw", pair.publicKey)),
    };
    await withStore("readwrite", function (store) { return store.put(record, personId); });
    return record;
  }

  async function publicKey(personId) {
    const found = await stored(personId);
    return found ? found.publicKey : null;
  }

  function csrfOf(form) {
    const field = form.querySelector("input[name=csrf]");
    return field ? field.value : "";
  }

  async function postJson(url, payload, csrf) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(explain(text, response.status));
    return JSON.parse(text);
  }

  // A refusal comes as the console's error page, in the person's language: its heading,
  // explanation and reason code make the message.
  function explain(text, status) {
    const page = new DOMParser().parseFromString(text, "text/html");
    const heading = page.querySelector("main h1");
    if (!heading) return "HTTP " + status;
    const parts = [heading.textContent];
    const explanation = page.querySelector("main h1 + p");
    if (explanation) parts.push(explanation.textContent);
    const code = page.querySelector("main .code code");
    if (code) parts.push("(" + code.textContent + ")");
    return parts.join(" ");
  }

  // Prepare at url with fields, sign the answer's bytes: {body, sig, opening?, public_key}.
  async function prepareAndSign(url, fields, personId, csrf) {
    const key = await stored(personId);
    if (!key) throw new Error("no-key");
    const prepared = await postJson(url, { public_key: key.publicKey, fields: fields }, csrf);
    const body = unb64(prepared.body_b64);
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, body);
    const signed = { body: prepared.body_b64, sig: b64(sig), public_key: key.publicKey };
    if (prepared.opening) signed.opening = prepared.opening;
    return signed;
  }

  function formFields(form) {
    const fields = {};
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf") fields[name] = String(value);
    });
    return fields;
  }

  function say(form, text) {
    const status = form.querySelector("[data-sign-status]") || document.getElementById("sign-status");
    if (status) status.textContent = text;
  }

  async function signForm(form, submitter) {
    const personId = form.dataset.person;
    const prepare = form.dataset.prepare || "/console/decisions/prepare";
    const submit = form.dataset.submit || "/console/decisions/submit";
    const csrf = csrfOf(form);
    let items;
    if (form.dataset.sign === "bulk") {
      items = Array.from(form.querySelectorAll("input[type=checkbox]:checked")).map(function (box) {
        return JSON.parse(box.value);
      });
    } else {
      const fields = formFields(form);
      fields.kind = form.dataset.sign;
      if (submitter && submitter.name) fields[submitter.name] = submitter.value;
      items = [fields];
    }
    let last = {};
    for (const fields of items) {
      const signed = await prepareAndSign(prepare, fields, personId, csrf);
      last = await postJson(submit, signed, csrf);
    }
    window.location.assign(form.dataset.next || window.location.pathname + window.location.search);
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.sign) return;
    event.preventDefault();
    const button = event.submitter;
    if (button) button.disabled = true;
    say(form, form.dataset.busy || "…");
    signForm(form, button).catch(function (error) {
      if (button) button.disabled = false;
      say(form, error.message === "no-key" ? (form.dataset.nokey || "no-key") : error.message);
    });
  });

  // The device page: register this browser's key (the form posts the public key it fills in).
  document.addEventListener("click", function (event) {
    const button = event.target.closest ? event.target.closest("[data-register-key]") : null;
    if (!button) return;
    event.preventDefault();
    const form = button.form;
    ensureKey(button.dataset.registerKey).then(function (record) {
      form.querySelector("input[name=public_key]").value = record.publicKey;
      form.submit();
    }).catch(function (error) { say(form, error.message); });
  });

  // Mark this browser's own key in the list of device keys.
  document.addEventListener("DOMContentLoaded", function () {
    const list = document.querySelector("[data-device-keys]");
    if (!list) return;
    publicKey(list.dataset.deviceKeys).then(function (mine) {
      list.querySelectorAll("[data-public-key]").forEach(function (row) {
        if (row.dataset.publicKey === mine) row.classList.add("this-browser");
        if (row.dataset.publicKey === mine) row.querySelector("[data-this-browser]").hidden = false;
      });
      const hint = document.querySelector("[data-no-key-here]");
      if (hint) hint.hidden = Boolean(mine);
    });
  });

  window.kkSign = { ensureKey: ensureKey, publicKey: publicKey, prepareAndSign: prepareAndSign };
})();
