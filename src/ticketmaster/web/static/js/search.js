// The search page (/): a text box, city and date filters, results linking to /e/{id},
// paged with nextCursor. The filters live in the URL, so back and reload keep them.

import { request } from "./api.js";
import { dayMonth, when } from "./format.js";
import { Alert, describe } from "./messages.js";

const PAGE_SIZE = 12;
const FIELDS = ["q", "city", "dateFrom", "dateTo"];

const form = document.getElementById("search-form");
const inputs = Object.fromEntries(FIELDS.map((name) => [name, form.elements.namedItem(name)]));
const results = document.getElementById("results");
const summary = document.getElementById("results-summary");
const more = document.getElementById("more");
const empty = document.getElementById("no-results");
const alert = new Alert(document.getElementById("alert"));

let cursor = null;
let shown = 0;
let running = null;

function filters() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const value = inputs[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function card(event) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.className = "event-card";
  link.href = `/e/${encodeURIComponent(event.id)}`;
  const [day, month] = dayMonth(event.datetime);
  const badge = document.createElement("span");
  badge.className = "date-badge";
  badge.setAttribute("aria-hidden", "true");
  const d = document.createElement("strong");
  d.textContent = day;
  const m = document.createElement("span");
  m.textContent = month;
  badge.append(d, m);
  const body = document.createElement("span");
  body.className = "event-card-body";
  const title = document.createElement("span");
  title.className = "event-card-title";
  title.textContent = event.title;
  const meta = document.createElement("span");
  meta.className = "event-card-meta";
  meta.textContent = `${when(event.datetime)} · ${event.venueName}, ${event.city}`;
  body.append(title, meta);
  const cta = document.createElement("span");
  cta.className = "event-card-cta";
  cta.setAttribute("aria-hidden", "true");
  cta.textContent = "Seats →";
  link.append(badge, body, cta);
  item.append(link);
  return item;
}

async function load({ append }) {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const params = filters();
  if (!append) {
    history.replaceState(null, "", params.size ? `/?${params}` : "/");
    cursor = null;
  }
  params.set("limit", String(PAGE_SIZE));
  if (append && cursor) params.set("cursor", cursor);
  results.setAttribute("aria-busy", "true");
  try {
    const page = await request("GET", `/events?${params}`, { signal: controller.signal });
    alert.clear();
    if (!append) {
      results.replaceChildren();
      shown = 0;
    }
    results.append(...page.events.map(card));
    shown += page.events.length;
    cursor = page.nextCursor;
    more.hidden = !cursor;
    empty.hidden = shown > 0;
    summary.textContent =
      shown === 0 ? "" : `Showing ${shown} event${shown === 1 ? "" : "s"}${cursor ? " · more below" : ""}`;
  } catch (error) {
    if (error.name === "AbortError") return;
    alert.show(describe(error, { what: "search events" }));
  } finally {
    if (running === controller) {
      running = null;
      results.setAttribute("aria-busy", "false");
    }
  }
}

async function fillCities() {
  try {
    const page = await request("GET", "/events?limit=100");
    const cities = [...new Set(page.events.map((e) => e.city))].sort();
    document.getElementById("cities").replaceChildren(
      ...cities.map((city) => {
        const option = document.createElement("option");
        option.value = city;
        return option;
      }),
    );
  } catch {
    // Only suggestions: the city box works without them.
  }
}

let typing = 0;
function searchSoon() {
  clearTimeout(typing);
  typing = setTimeout(() => load({ append: false }), 250);
}

const initial = new URLSearchParams(location.search);
for (const name of FIELDS) inputs[name].value = initial.get(name) || "";

form.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(typing);
  load({ append: false });
});
inputs.q.addEventListener("input", searchSoon);
inputs.city.addEventListener("change", searchSoon);
inputs.dateFrom.addEventListener("change", searchSoon);
inputs.dateTo.addEventListener("change", searchSoon);
more.addEventListener("click", () => load({ append: true }));

load({ append: false });
fillCities();
