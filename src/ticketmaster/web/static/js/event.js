// The event page (/e/{eventId}): the event, then (after the waiting room, when the event
// has one) the live seat map and the basket. The map and the stream are requested at
// once, in parallel, so the stadium's first paint waits for one round trip of each.

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

function liveState(state) {
  const stage = $("map-stage");
  stage.dataset.live = state;
}

async function openShop(event, memory, room) {
  $("shop").hidden = false;
  $("basket").prepend($("alert"));
  const feed = new SeatFeed(`/events/${encodeURIComponent(event.id)}/seats/stream`, {
    onChanges: () => {},
    onStale: () => {},
    onState: liveState,
  });
  let map;
  for (let attempt = 0; ; attempt += 1) {
    try {
      map = await fetchMap(event.id);
      break;
    } catch (error) {
      alert.show(`${describe(error, { what: "load the seat map" })} Retrying…`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(8000, 1000 * 2 ** attempt)));
    }
  }
  alert.clear();
  $("map-loading").hidden = true;
  let checkout = null;
  const shop = new Shop({
    event,
    map,
    feed,
    alert,
    onSelection: () => checkout?.renderSelection(),
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
    `Seat map of ${event.venueName}: ${shop.model.sections.length} sections, ${shop.model.count} seats. Use the seat list to choose seats with a keyboard.`,
  );
  const ids = [
    "pick-step", "picked", "selection-empty", "selection-total", "hold", "best-count", "best-tier", "best",
    "held-step", "countdown", "held-seats", "held-total", "pay-form", "payment-token", "pay", "cancel", "outcome",
  ];
  const el = Object.fromEntries(ids.map((id) => [id, $(id)]));
  checkout = new Checkout({
    event,
    shop,
    memory,
    alert,
    admission: () => (room ? room.admission()?.admissionToken ?? null : null),
    onAdmissionLost: async () => {
      // Back to the line; the map stays loaded (and live) behind it.
      room.forget();
      $("shop").hidden = true;
      $("waiting-room").before($("alert"));
      await room.admitted();
      $("basket").prepend($("alert"));
      $("shop").hidden = false;
    },
    ui: {
      pickStep: el["pick-step"],
      picked: el.picked,
      selectionEmpty: el["selection-empty"],
      selectionTotal: el["selection-total"],
      hold: el.hold,
      bestCount: el["best-count"],
      bestTier: el["best-tier"],
      best: el.best,
      heldStep: el["held-step"],
      countdown: el.countdown,
      heldSeats: el["held-seats"],
      heldTotal: el["held-total"],
      payForm: el["pay-form"],
      token: el["payment-token"],
      pay: el.pay,
      cancel: el.cancel,
      outcome: el.outcome,
    },
  });
  checkout.renderSelection();
  await checkout.resume();
}

async function main() {
  const [eventResult, guestResult] = await Promise.allSettled([
    request("GET", `/events/${encodeURIComponent(eventId)}`),
    ensureGuest(),
  ]);
  if (eventResult.status === "rejected") {
    const error = eventResult.reason;
    $("event-title").textContent = error instanceof ApiError && error.status === 404 ? "Event not found" : "Event unavailable";
    alert.show(
      error instanceof ApiError && error.status === 404
        ? "We could not find this event. It may have been removed; try searching again."
        : describe(error, { what: "load this event" }),
    );
    return;
  }
  if (guestResult.status === "rejected") {
    alert.show(describe(guestResult.reason, { what: "start your guest session" }));
    return;
  }
  const event = eventResult.value;
  header(event);
  const memory = new EventMemory(event.id, guestResult.value.userId);
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
    if (!room.admission() && !memory.get("hold")) await room.admitted();
  }
  await openShop(event, memory, room);
}

main();
