// Converge pages: small enhancements on top of server-rendered HTML. Every page works without
// this script except the live parts (the meeting appearing on its own, the side panel).
(function () {
  "use strict";

  // Times are rendered by the server in the org's time zone, which they name; hovering one
  // shows the exact moment (RFC 3339).
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      el.title = el.getAttribute("datetime");
    });
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }

  // The booking form's default start comes in UTC; show the same moment in the browser's zone
  // and send that zone along, so the server can turn the local time into RFC 3339.
  function bookingForm() {
    var tz = document.querySelector("[data-browser-tz]");
    if (!tz) return;
    var start = document.querySelector("input[name=start][data-local-default]");
    if (start && start.dataset.localDefault) {
      var d = new Date(start.dataset.localDefault + ":00Z");
      if (!isNaN(d)) {
        start.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
          "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
        tz.value = browserZone();
      }
    }
    document.querySelectorAll("[data-tz-label]").forEach(function (el) { el.textContent = tz.value; });
  }

  function fragment(text) {
    var t = document.createElement("template");
    t.innerHTML = text.trim();  // server-rendered and escaped by the server
    return t.content.firstElementChild;
  }

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      });
  }

  // A booking whose meeting is still being created polls its own card until the meeting shows.
  function pollCard(card, tries) {
    var delay = tries < 60 ? 1000 : 10000;
    setTimeout(function () {
      if (!document.contains(card)) return;
      fetchHtml(card.dataset.cardUrl).then(function (text) {
        var fresh = fragment(text);
        card.replaceWith(fresh);
        localTimes(fresh);
        if (fresh.hasAttribute("data-pending")) pollCard(fresh, tries + 1);
      }).catch(function () { pollCard(card, tries + 1); });
    }, delay);
  }

  function cards() {
    document.querySelectorAll("[data-card-url][data-pending]").forEach(function (card) {
      pollCard(card, 0);
    });
  }

  // Manage IDI: a participant opens the side panel; while Zoom is still processing, the panel
  // checks again every 30 s (and "Check again" does it at once).
  function panel() {
    var aside = document.getElementById("panel");
    if (!aside) return;
    var current = null, timer = null, loads = 0;

    function close() {
      clearTimeout(timer);
      current = null;
      loads++;
      aside.removeAttribute("aria-busy");
      aside.querySelectorAll("video, audio").forEach(function (m) { m.pause(); });
      aside.innerHTML = "";
      aside.hidden = true;
      document.querySelectorAll("[data-panel-url][aria-pressed]").forEach(function (b) {
        b.removeAttribute("aria-pressed");
      });
    }

    // The list was rendered with the page; the panel is newer, so its status wins.
    function syncRow(inner) {
      if (!inner) return;
      var fresh = inner.querySelector("[data-panel-badge]");
      var row = document.querySelector('[data-row-badge="' + CSS.escape(inner.dataset.booking) + '"]');
      if (fresh && row) { row.className = fresh.className; row.textContent = fresh.textContent; }
    }

    function load(url) {
      clearTimeout(timer);
      current = url;
      var mine = ++loads;  // only the newest answer is shown (clicks may overlap)
      aside.hidden = false;
      aside.setAttribute("aria-busy", "true");
      fetchHtml(url).then(function (text) {
        if (mine !== loads) return;
        aside.querySelectorAll("video, audio").forEach(function (m) { m.pause(); });
        aside.innerHTML = "";
        aside.appendChild(fragment(text));
        aside.removeAttribute("aria-busy");
        localTimes(aside);
        syncRow(aside.querySelector("[data-booking]"));
        if (aside.querySelector("[data-processing]")) {
          timer = setTimeout(function () { if (current === url) load(url); }, 30000);
        }
      }).catch(function (err) {
        if (mine !== loads) return;
        aside.removeAttribute("aria-busy");
        aside.textContent = "The panel could not be loaded (" + err.message + "). Try again.";
      });
    }

    document.addEventListener("click", function (e) {
      var opener = e.target.closest("[data-panel-url]");
      if (opener) {
        document.querySelectorAll("[data-panel-url][aria-pressed]").forEach(function (b) {
          b.removeAttribute("aria-pressed");
        });
        opener.setAttribute("aria-pressed", "true");
        load(opener.dataset.panelUrl);
      } else if (e.target.closest("[data-panel-close]")) {
        close();
      } else if (e.target.closest("[data-panel-refresh]") && current) {
        load(current);
      } else if (e.target.closest("[data-seek]")) {
        // A transcript line's time: play the recording from there.
        var video = aside.querySelector("video") || aside.querySelector("audio");
        if (video) {
          video.currentTime = parseFloat(e.target.closest("[data-seek]").dataset.seek) || 0;
          video.play();
        }
      }
    });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape" && current) close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    bookingForm();
    cards();
    panel();
  });
})();
