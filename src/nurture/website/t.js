/* nurture t.js: first-party page views and events for nurture (docs/signals.md, "Website
   behaviour"). Sends nothing when the browser says Do Not Track or Global Privacy Control,
   and, with data-consent="wait" on its script tag, nothing until nurture.consent(). */
(function (w, d) {
  "use strict";
  var KEY = __KEY__, DOMAIN = __DOMAIN__, COOKIE = __COOKIE__, MAX_AGE = __MAX_AGE__;
  var tag = d.currentScript;
  var endpoint = new URL("/api/track", (tag && tag.src) || w.location.href).href;
  var nav = w.navigator;
  var declined =
    nav.doNotTrack === "1" || w.doNotTrack === "1" || nav.msDoNotTrack === "1" ||
    nav.globalPrivacyControl === true;
  var off = !KEY || declined;
  var started = false, waiting = [];
  var earlier = w.nurture; // a stub the site set up before this script loaded

  function randomId() {
    var bytes = new Uint8Array(16), out = "";
    w.crypto.getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] + 256).toString(16).slice(1);
    return out;
  }

  function readCookie() {
    var m = d.cookie.match(new RegExp("(?:^|;\\s*)" + COOKIE + "=([A-Za-z0-9._:-]{1,64})"));
    return m ? m[1] : null;
  }

  function anonymousId() {
    var id = readCookie() || randomId();
    var host = w.location.hostname, cookie = COOKIE + "=" + id + "; Max-Age=" + MAX_AGE +
      "; Path=/; SameSite=Lax";
    if (DOMAIN && (host === DOMAIN || host.slice(-DOMAIN.length - 1) === "." + DOMAIN)) {
      cookie += "; Domain=" + DOMAIN;
    }
    if (w.location.protocol === "https:") cookie += "; Secure";
    d.cookie = cookie; // refreshed on every page: the cookie lives as long as the visits
    return id;
  }

  function page() {
    var l = w.location;
    return { url: l.href, path: l.pathname, title: d.title, referrer: d.referrer };
  }

  function send(call) {
    call.writeKey = KEY;
    call.anonymousId = anonymousId();
    call.messageId = randomId();
    call.timestamp = call.sentAt = new Date().toISOString();
    call.context = { page: page() };
    // text/plain: a "simple" request, no CORS preflight; the server reads it as JSON.
    var body = new Blob([JSON.stringify(call)], { type: "text/plain" });
    if (nav.sendBeacon && nav.sendBeacon(endpoint, body)) return;
    if (w.fetch) {
      w.fetch(endpoint, { method: "POST", body: body, keepalive: true, credentials: "omit" })
        .catch(function () {});
    }
  }

  function fillForms() {
    var id = anonymousId();
    var fields = d.querySelectorAll('input[name="anonymous_id"]');
    for (var i = 0; i < fields.length; i++) if (!fields[i].value) fields[i].value = id;
  }

  function call(c) {
    if (off) return;
    if (started) send(c);
    else waiting.push(c);
  }

  function start() {
    if (off || started) return;
    started = true;
    send({ type: "page", properties: page() });
    while (waiting.length) send(waiting.shift());
    if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", fillForms);
    else fillForms();
  }

  var api = (w.nurture = {
    /* nurture.track("Demo Booked", {plan: "team"}) -> event custom.demo_booked */
    track: function (name, properties) {
      call({ type: "track", event: String(name), properties: properties || {} });
    },
    /* a page view by hand, e.g. after a single-page app changed its route */
    page: function () {
      call({ type: "page", properties: page() });
    },
    /* the site's consent signal: start sending (with data-consent="wait") */
    consent: start,
    anonymousId: function () {
      return started ? anonymousId() : null;
    },
  });

  var queued = earlier && earlier._q;
  var consented = false;
  if (queued && queued.length) {
    for (var i = 0; i < queued.length; i++) {
      if (queued[i][0] === "consent") consented = true;
      else if (api[queued[i][0]]) api[queued[i][0]].apply(api, queued[i][1] || []);
    }
  }
  var wait = tag && tag.getAttribute("data-consent") === "wait";
  if (!wait || consented) start();
})(window, document);
