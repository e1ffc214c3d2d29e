// The event page (/e/{eventId}): the event, then (after the waiting room, when the event
// has one) the live seat map and the basket.
//
// First paint of a stadium is mostly the seat map's download and parse, so the map is
// asked for as early as possible: the server preloads it with the page when the event
// has no waiting room (<link rel="preload" data-seat-map>), otherwise it is fetched once
// the buyer is admitted. The stream is opened at the same moment, and the guest identity
// is created meanwhile: only the basket needs it.

import { ApiError, ensureGuest, request } from "./api.js";
import { Checkout } from "./checkout.js";
import { money, when } from "./format.js";
import { Alert, describe } from "./messages.js";
import { SeatFeed } from "./seatmap/live.js";
import { Shop, fetchMap } from "./shop.js";
import { EventMemory } from "./store.js";
import { WaitingRoom } from "./waiting-room.js";

const $ = (id) => document.getElementById(id);
const eventId = decodeURIComponent(location.pathname.split("/")[2] || "");
const alert = new Alert($("alert"));

const BASKET_IDS = {
  pickStep: "pick-step",
  picked: "picked",
  selectionEmpty: "selection-empty",
  selectionTotal: "selection-total",
  hold: "hold",
  bestCount: "best-count",
  bestTier: "best-tier",
  best: "best",
  heldStep: "held-step",
  countdown: "countdown",
  heldSeats: "held-seats",
  heldTotal: "held-total",
  payForm: "pay-form",
  token: "payment-token",
  pay: "pay",
  cancel: "cancel",
  outcome: "outcome",
};

function header(event) {
  document.title = `${event.title} · ticketmaster`;
  $("event-title").textContent = event.title;
  $("event-when").textContent = when(event.datetime);
  $("event-where").textContent = `${event.venueName} · ${event.city}`;
  $("tiers").replaceChildren(
    ...event.priceTiers.map((tier, index) => {
      const li = document.createElement("li");
      li.className = `tier-chip tier-${index % 8}`;
      const name = document.createElement("span");
      name.textContent = tier.name;
      const price = document.createElement("strong");
      price.textContent = money(tier.priceCents, tier.currency);
      li.append(name, price);
      return li;
    }),
  );
}

/** Open the stream and ask for the map together (the stream buffers until paired). */
function startMap() {
  const feed = new SeatFeed(`/events/${encodeURIComponent(eventId)}/seats/stream`, {
    onChanges: () => {},
    onStale: () => {},
    onState: (state) => {
      $("map-stage").dataset.live = state;
    },
  });
  return { feed, map: fetchMap(eventId) };
}

async function loadedMap(started) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const map = await (attempt === 0 ? started.map : fetchMap(eventId));
      alert.clear();
      return map;
    } catch (error) {
      alert.show(`${describe(error, { what: "load the seat map" })} Retrying…`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(8000, 1000 * 2 ** attempt)));
    }
  }
}

function openShop(event, map, feed) {
  $("map-loading").hidden = true;
  const shop = new Shop({
    event,
    map,
    feed,
    alert,
    onSelection: () => shop.checkout?.renderSelection(),
    elements: {
      canvas: $("seatmap"),
      picker: $("section-picker"),
      list: $("seat-list"),
      legend: $("legend"),
      tip: $("map-tip"),
      zoom: { zoomIn: $("zoom-in"), zoomOut: $("zoom-out"), fit: $("zoom-fit") },
    },
  });
  $("seatmap").setAttribute(
    "aria-label",
    `Seat map of ${event.venueName}: ${shop.model.sections.length} sections, ${shop.model.count} seats.` +
      " Use the seat list to choose seats with a keyboard.",
  );
  return shop;
}

async function openBasket(event, shop, memory, room) {
  const ui = Object.fromEntries(Object.entries(BASKET_IDS).map(([key, id]) => [key, $(id)]));
  const checkout = new Checkout({
    event,
    shop,
    memory,
    alert,
    ui,
    admission: () => room?.admission()?.admissionToken ?? null,
    onAdmissionLost: async () => {
      // Back in line; the map stays loaded (and live) behind the waiting room.
      room.forget();
      $("shop").hidden = true;
      $("waiting-room").before($("alert"));
      await room.admitted();
      $("basket").prepend($("alert"));
      $("shop").hidden = false;
    },
  });
  shop.checkout = checkout;
  checkout.renderSelection();
  await checkout.resume();
}

function showShop() {
  $("shop").hidden = false;
  $("basket").prepend($("alert"));
}

async function main() {
  const early = document.querySelector("link[data-seat-map]") ? startMap() : null;
  if (early) showShop();
  const guest = ensureGuest();
  let event;
  try {
    event = await request("GET", `/events/${encodeURIComponent(eventId)}`);
  } catch (error) {
    early?.feed.close();
    $("shop").hidden = true;
    $("shop").before($("alert"));
    const missing = error instanceof ApiError && error.status === 404;
    $("event-title").textContent = missing ? "Event not found" : "Event unavailable";
    alert.show(
      missing
        ? "We could not find this event. It may have been removed; try searching again."
        : describe(error, { what: "load this event" }),
    );
    return;
  }
  header(event);
  let buyer;
  try {
    buyer = await guest;
  } catch (error) {
    alert.show(describe(error, { what: "start your guest session" }));
    return;
  }
  const memory = new EventMemory(event.id, buyer.userId);
  let room = null;
  if (event.waitingRoom) {
    room = new WaitingRoom({
      event,
      memory,
      alert,
      ui: {
        section: $("waiting-room"),
        position: $("wr-position"),
        ahead: $("wr-ahead"),
        eta: $("wr-eta"),
        bar: $("wr-bar"),
        fill: $("wr-fill"),
      },
    });
    if (!early && !room.admission() && !memory.get("hold")) await room.admitted();
  }
  const started = early || startMap();
  showShop();
  const map = await loadedMap(started);
  performance.mark("seatmap-data"); // the map is downloaded and parsed (bench/web_map.py)
  const shop = openShop(event, map, started.feed);
  await openBasket(event, shop, memory, room);
}

main();
