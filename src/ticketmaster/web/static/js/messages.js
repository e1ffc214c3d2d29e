// API errors in plain words for the buyer (never the raw body).

import { ApiError } from "./api.js";

function wait(seconds) {
  if (!seconds || seconds <= 1) return "a moment";
  return `${seconds} seconds`;
}

/**
 * What went wrong, for a person. `what` names the action ("hold these seats", …) and
 * `seatName` turns a seat id into "Section 101, row B, seat 7".
 */
export function describe(error, { what = "do that", seatName = (id) => id } = {}) {
  if (!(error instanceof ApiError)) {
    return `Something went wrong in this page while trying to ${what}. Please reload and try again.`;
  }
  const b = error.body;
  switch (error.code || error.status) {
    case "network":
      return `We could not reach the box office to ${what}. Check your connection and try again.`;
    case "seats_unavailable": {
      const ids = Array.isArray(b.seatIds) ? b.seatIds : [];
      if (ids.length === 0) {
        return "No seats fit: there is no block of that many seats together in that price tier right now. Try fewer seats or another tier.";
      }
      const names = ids.map(seatName).join("; ");
      return ids.length === 1
        ? `Sorry, someone else just took ${names}. Nothing was held; it has left your selection.`
        : `Sorry, someone else just took ${ids.length} of your seats (${names}). Nothing was held; they have left your selection.`;
    }
    case "hold_limit":
      return "You already have as many tickets as one buyer may have for this event (held or bought). Cancel a hold to pick other seats.";
    case "hold_not_active":
      return "This hold is no longer active: it expired, was cancelled or is already paid for.";
    case "admission_required":
      return "Your turn in the waiting room has ended. You are back in the queue.";
    case "not_on_sale":
      return "Tickets for this event are not on sale yet.";
    case "rate_limited":
      return `You are going a little fast. Please wait ${wait(error.retryAfter)} and try again.`;
    case "overloaded":
      return `The box office is very busy right now. Please try again in ${wait(error.retryAfter)}.`;
    case "unavailable":
      return `The box office is having a technical problem and could not ${what}. Nothing was changed; please try again in ${wait(error.retryAfter)}.`;
    case "unauthorized":
      return "Your guest session had expired, so a new one was started. Please try again.";
    case "not_found":
      return `We could not find that. It may have been removed, so we could not ${what}.`;
    case "idempotency_conflict":
      return `That request was already sent with different details, so we could not ${what}. Please try again.`;
    case "invalid_request":
      return `The box office did not accept the request to ${what}${b.message ? ` (${String(b.message)})` : ""}.`;
    default:
      if (error.status === 429) return `Too many requests. Please wait ${wait(error.retryAfter)} and try again.`;
      if (error.status >= 500) {
        return `The box office could not ${what} because of a problem on its side. Please try again in a moment.`;
      }
      return `The box office refused to ${what}${b.message ? ` (${String(b.message)})` : ""}.`;
  }
}

/** Why a purchase failed, in plain words (GET /purchases/{id}'s failureReason). */
export function failureText(reason) {
  switch (reason) {
    case "card_declined":
      return "Your card was declined. Nothing was charged and your seats are still held: try another card.";
    case "hold_expired":
      return "Your hold expired before the payment went through. Nothing was charged.";
    case "payment_error":
      return "The payment provider had a problem. Nothing was charged; please try again.";
    default:
      return `The payment did not go through${reason ? ` (${reason})` : ""}. Nothing was charged.`;
  }
}

/** The page's one role="alert" element: show a note, replace it, or clear it. */
export class Alert {
  constructor(element) {
    this.element = element;
  }

  show(text, tone = "error") {
    this.element.textContent = text;
    this.element.dataset.tone = tone;
    this.element.hidden = false;
    const box = this.element.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) this.element.scrollIntoView({ block: "nearest" });
  }

  clear() {
    this.element.textContent = "";
    this.element.hidden = true;
  }
}
