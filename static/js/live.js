// A live part of a page (the export page's, templates/exports/partials/status_live.html; the
// history's table, history_rows.html) has two ways of staying current: its stream of
// Server-Sent Events (htmx's SSE extension, on the element with `sse-connect`) and, as the
// fallback, the polls of its fragments. While the stream is open the polls inside it are held
// back, so one page never asks twice; as soon as it drops they go on by themselves. Whichever
// delivers a fragment, no element of it replaces a newer rendering of itself (`data-version`,
// the export's last write, on the export's status and on each history row), as a poll
// answered just before a push would otherwise do.
(function () {
  "use strict";

  // The words of the `duration` filter (export_tags.DURATION_WORDS), given to this script by
  // its tag (templates/exports/partials/live_script.html).
  const script = document.currentScript;
  const WORDS = JSON.parse((script && script.dataset.durationWords) || "{}");

  function isOlder(html) {
    if (!html || html.indexOf("data-version") < 0) return false;
    const answer = document.createElement("template");
    answer.innerHTML = html;
    return Array.prototype.some.call(
      answer.content.querySelectorAll("[id][data-version]"),
      function (fresh) {
        const shown = document.getElementById(fresh.id);
        const version = shown ? shown.dataset.version : undefined;
        // Both are seconds and microseconds since 1970, zero-padded alike: compared as text.
        return version !== undefined && fresh.dataset.version < version;
      }
    );
  }

  function setOpen(event, open) {
    if (!event.target.matches || !event.target.matches("[sse-connect]")) return;
    if (open) {
      event.target.dataset.push = "open";
    } else {
      delete event.target.dataset.push;
    }
  }

  document.addEventListener("htmx:sseOpen", function (event) { setOpen(event, true); });
  document.addEventListener("htmx:sseError", function (event) { setOpen(event, false); });
  document.addEventListener("htmx:sseClose", function (event) { setOpen(event, false); });

  document.addEventListener("htmx:beforeRequest", function (event) {
    const element = event.detail.elt;
    const polls = (element.getAttribute("hx-trigger") || "").startsWith("every ");
    if (polls && element.closest("[sse-connect][data-push=open]")) event.preventDefault();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (isOlder(event.detail.serverResponse)) event.detail.shouldSwap = false;
  });

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (isOlder(event.detail.data)) event.preventDefault();
  });

  // A pushed page (an export's, the overview) is re-rendered only when an export changes, so
  // an elapsed time counts on here between renders, from what the server said at its render
  // (`data-at`, seconds since 1970 on the server's clock, so a wrong clock in the browser
  // does not matter), in the words of the `duration` filter.
  function duration(seconds) {
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = seconds % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    const values = { h: hours, m: minutes, s: rest, mm: pad(minutes), ss: pad(rest) };
    const unit = hours ? "hours" : minutes ? "minutes" : "seconds";
    return (WORDS[unit] || "").replace(/\{(\w+)\}/g, function (_, name) {
      return String(values[name]);
    });
  }

  const arrived = new WeakMap();
  window.setInterval(function () {
    document.querySelectorAll(".elapsed[data-since]").forEach(function (span) {
      if (!arrived.has(span)) arrived.set(span, Date.now());
      const base = Number(span.dataset.at) - Number(span.dataset.since);
      const since = Math.floor((Date.now() - arrived.get(span)) / 1000);
      const text = duration(Math.max(base + since, 0));
      if (text) span.textContent = text;  // no words given: the server's stays
    });
  }, 1000);
})();
