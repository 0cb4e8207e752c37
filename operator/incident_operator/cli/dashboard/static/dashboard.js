// The responders' dashboard: SLA clocks counting down, and live updates.
// No framework, no build step. Without JavaScript every page is complete as served;
// with it, the clocks tick and the parts a watch event touches are fetched again.
"use strict";

function spell(seconds) {
  // The plugin's duration words: 1h2m5s, 4m10s, 25h.
  const parts = [];
  for (const [unit, size] of [["h", 3600], ["m", 60], ["s", 1]]) {
    if (seconds >= size || (unit === "s" && parts.length === 0)) {
      parts.push(Math.floor(seconds / size) + unit);
      seconds %= size;
    }
  }
  return parts.join("");
}

function tick() {
  const now = Date.now();
  for (const clock of document.querySelectorAll(".clock[data-due]")) {
    const left = Math.round((Date.parse(clock.dataset.due) - now) / 1000);
    const relative = clock.querySelector(".relative");
    if (left >= 0) {
      relative.textContent = "in " + spell(left);
      clock.classList.remove("overdue");
    } else {
      relative.textContent = "\u26a0 OVERDUE by " + spell(-left);
      clock.classList.add("overdue");
    }
  }
}

const pending = new Map();

async function refresh(region) {
  // One fetch at a time per region; events arriving meanwhile ask for one more.
  if (pending.has(region)) { pending.set(region, true); return; }
  pending.set(region, false);
  try {
    const answer = await fetch(region.dataset.fragment, { credentials: "same-origin" });
    if (answer.ok) {
      region.innerHTML = await answer.text();
      tick();
    }
  } finally {
    const again = pending.get(region);
    pending.delete(region);
    if (again) refresh(region);
  }
}

function listen() {
  const regions = document.querySelectorAll(".live[data-fragment]");
  if (regions.length === 0 || !window.EventSource) return;
  const status = document.getElementById("live-state");
  const events = new EventSource("/events");
  events.onopen = () => {
    // What changed between rendering the page and (re)connecting was heard by no one.
    for (const region of regions) refresh(region);
    document.body.dataset.live = "connected";
    if (status) status.textContent = "Live: updates as the cluster changes.";
  };
  events.onerror = () => { if (status) status.textContent = "Live updates interrupted; reconnecting."; };
  events.addEventListener("incident", (event) => {
    const changed = JSON.parse(event.data);
    for (const region of regions) {
      const mine = region.dataset.incident;
      if (!mine || mine === changed.namespace + "/" + changed.name) refresh(region);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 1000);
  listen();
  const result = document.getElementById("result");
  if (result) result.focus();
});
