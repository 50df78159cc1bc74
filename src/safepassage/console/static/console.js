// Safe Passage console: small enhancements over pages that work without JavaScript.
// Served from our own origin (CSP script-src 'self'); loads nothing from anywhere else.
"use strict";

(function () {
  function csrfToken(form) {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  // --- The queue refreshes itself (the same rows a reload would show). ---
  var rows = document.getElementById("queue-rows");
  if (rows && rows.dataset.src) {
    setInterval(function () {
      fetch(rows.dataset.src, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) {
          if (r.redirected) { window.location.reload(); return null; }  // session ended
          if (!r.ok) { return null; }
          return r.text();
        })
        .then(function (html) { if (html !== null) { rows.innerHTML = html; } })
        .catch(function () { /* offline for a moment: the next tick tries again */ });
    }, 10000);
  }

  // --- Keyboard: n take next, r reply, o note, / search. Not while typing. ---
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) { return; }
    var focus = { r: "reply", o: "note", "/": "ref-search" }[event.key];
    if (event.key === "n") {
      var next = document.getElementById("take-next");
      if (next) { event.preventDefault(); next.submit(); }
    } else if (focus && document.getElementById(focus)) {
      event.preventDefault();
      document.getElementById(focus).focus();
    }
  });

  // --- WebAuthn security keys. ---
  function fromB64url(value) {
    var s = value.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, form, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error || document.body.dataset.refused || "Refused"); }
        return data;
      });
    });
  }
  function showError(message) {
    var box = document.getElementById("key-error");
    if (box) { box.hidden = false; box.textContent = message; }
  }
  function registration(form) {
    return post(form.dataset.options, form).then(function (o) {
      o.challenge = fromB64url(o.challenge);
      o.user.id = fromB64url(o.user.id);
      (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
      return navigator.credentials.create({ publicKey: o });
    }).then(function (cred) {
      var nameField = form.querySelector("input[name=name]");
      return post(form.dataset.finish, form, {
        name: nameField ? nameField.value : "",
        credential: {
          id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: toB64url(cred.response.clientDataJSON),
            attestationObject: toB64url(cred.response.attestationObject),
            transports: cred.response.getTransports ? cred.response.getTransports() : []
          },
          clientExtensionResults: cred.getClientExtensionResults()
        }
      });
    });
  }
  function assertion(form) {
    return post(form.dataset.options, form).then(function (o) {
      o.challenge = fromB64url(o.challenge);
      (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
      return navigator.credentials.get({ publicKey: o });
    }).then(function (cred) {
      return post(form.dataset.finish, form, {
        credential: {
          id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: toB64url(cred.response.clientDataJSON),
            authenticatorData: toB64url(cred.response.authenticatorData),
            signature: toB64url(cred.response.signature),
            userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : null
          },
          clientExtensionResults: cred.getClientExtensionResults()
        }
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.webauthn"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!window.PublicKeyCredential) { showError(document.body.dataset.noSecurityKeys || "This browser has no security key support."); return; }
      var run = form.dataset.webauthn === "register" ? registration : assertion;
      run(form).then(function (data) { window.location.assign(data.next || "/console/"); })
        .catch(function (err) { showError(err.message || String(err)); });
    });
  });
})();

// --- An open case page: a new message appears without a reload, and whoever else has the case
// open (or is writing a reply) is named. Every 2 s one small request reports this page's
// presence and learns the newest message's id; only when that changes is the conversation
// fetched. Without JavaScript the page's "Refresh" link does the same. ---
(function () {
  var box = document.getElementById("transcript");
  if (!box || !box.dataset.live) { return; }
  var presence = document.getElementById("presence");
  var reply = document.getElementById("reply");
  var writingUntil = 0, stopped = false, busy = false;
  if (reply) {
    reply.addEventListener("input", function () { writingUntil = Date.now() + 10000; });
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) {
        // Session ended (a redirect to the login): stop, keeping whatever was being typed.
        if (r.redirected) { stopped = true; return null; }
        if (r.status === 403 || r.status === 404) { stopped = true; }  // no longer ours to see
        return r.ok ? r : null;
      });
  }
  function loadConversation(last) {
    return get(box.dataset.src).then(function (r) { return r ? r.text() : null; })
      .then(function (html) {
        if (html !== null) { box.innerHTML = html; box.dataset.last = String(last); }
      });
  }
  function tick() {
    if (stopped || busy) { return; }
    busy = true;
    var writing = Date.now() < writingUntil ? "1" : "0";
    get(box.dataset.live + "?writing=" + writing)
      .then(function (r) { return r ? r.json() : null; })
      .then(function (data) {
        if (!data) { return null; }
        if (presence && presence.textContent !== data.presence) { presence.textContent = data.presence; }
        if (String(data.last) !== box.dataset.last) { return loadConversation(data.last); }
        return null;
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ })
      .then(function () { busy = false; });
  }
  setInterval(tick, 2000);
})();
