// /my/bookings: the guest's bookings (GET /bookings), each with its event.

import { authed, request } from "./api.js";
import { money, when } from "./format.js";
import { Alert, describe } from "./messages.js";
import { seatLabel, seatParts } from "./seatmap/names.js";

const list = document.getElementById("bookings");
const empty = document.getElementById("no-bookings");
const alert = new Alert(document.getElementById("alert"));

function text(tag, className, value) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = value;
  return element;
}

function bookingCard(booking, event) {
  const item = document.createElement("li");
  item.className = "booking card";
  item.dataset.bookingId = booking.bookingId;
  item.dataset.eventId = booking.eventId;
  const head = document.createElement("div");
  head.className = "booking-head";
  const title = document.createElement("a");
  title.className = "booking-title";
  title.href = `/e/${encodeURIComponent(booking.eventId)}`;
  title.textContent = event ? event.title : booking.eventId;
  head.append(title, text("span", "badge ok", "Confirmed"));
  item.append(head);
  if (event) item.append(text("p", "muted", `${when(event.datetime)} · ${event.venueName}, ${event.city}`));
  const seats = document.createElement("ul");
  seats.className = "booking-seats";
  seats.setAttribute("aria-label", "Seats");
  for (const id of booking.seatIds) {
    const chip = text("li", "seat-chip", seatLabel(id));
    chip.dataset.seat = id;
    seats.append(chip);
  }
  item.append(seats);
  const foot = document.createElement("p");
  foot.className = "booking-foot";
  foot.append(
    text("span", "", `Booking ${booking.bookingId}`),
    text("strong", "", money(booking.amountCents, booking.currency)),
  );
  item.append(foot);
  item.append(text("p", "muted small", `Bought ${when(booking.purchasedAt)}`));
  return item;
}

/** Seat chips say the section's name once the event's seat map (which has it) arrives. */
async function nameSections(eventId) {
  const map = await request("GET", `/events/${encodeURIComponent(eventId)}/seats`);
  const names = new Map(map.sections.map((s) => [s.id, s.name]));
  for (const chip of list.querySelectorAll(`[data-event-id="${CSS.escape(eventId)}"] [data-seat]`)) {
    const [section] = seatParts(chip.dataset.seat);
    if (names.has(section)) chip.textContent = seatLabel(chip.dataset.seat, names.get(section));
  }
}

async function main() {
  try {
    const { bookings } = await authed("GET", "/bookings");
    const ids = [...new Set(bookings.map((b) => b.eventId))];
    const events = new Map(
      await Promise.all(
        ids.map(async (id) => [id, await request("GET", `/events/${encodeURIComponent(id)}`).catch(() => null)]),
      ),
    );
    list.replaceChildren(...bookings.map((b) => bookingCard(b, events.get(b.eventId))));
    empty.hidden = bookings.length > 0;
    await Promise.allSettled(ids.map(nameSections));
  } catch (error) {
    alert.show(describe(error, { what: "load your bookings" }));
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

main();
