// The basket: hold the picked seats (or the best available), count down, cancel, pay, and
// show the outcome. State machine (one hold at a time per event page):
//
//   picking --Hold seats | Best available--> holding --201--> held
//   holding --refused (409, 403, 429, 503, ...)--> picking, with the reason in the alert
//   held --Pay--> paying (202, then GET /purchases/{id} until it settles)
//   paying --SUCCEEDED--> booked (data-booking-id) --"Choose more seats"--> picking
//   paying --FAILED--> held while the hold is active (pay again), else picking
//   held --Cancel hold | countdown ends and the hold is not paying--> picking
//
// The hold and the purchase under way are remembered (store.js), so a reload resumes the
// same state with the same countdown.

import { ApiError, authed, newKey, pause } from "./api.js";
import { clock, money, plural } from "./format.js";
import { describe, failureText } from "./messages.js";

const POLL_MS = [300, 500, 800, 1200, 2000];

export class Checkout {
  constructor({ event, shop, memory, alert, ui, admission, onAdmissionLost }) {
    this.event = event;
    this.shop = shop;
    this.memory = memory;
    this.alert = alert;
    this.ui = ui;
    this.admission = admission; // () => admission token or null
    this.onAdmissionLost = onAdmissionLost;
    this.hold = null;
    this.timer = 0;
    this.busy = false;
    for (const tier of event.priceTiers) {
      const option = document.createElement("option");
      option.value = tier.id;
      option.textContent = `${tier.name} · ${money(tier.priceCents, tier.currency)}`;
      ui.bestTier.append(option);
    }
    ui.hold.addEventListener("click", () => this.holdPicked());
    ui.best.addEventListener("click", () => this.holdBest());
    ui.cancel.addEventListener("click", () => this.cancel());
    ui.payForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.pay();
    });
  }

  get seatName() {
    return (id) => this.shop.seatName(id);
  }

  /** Re-render the picking step from the shop's selection. */
  renderSelection() {
    const picked = this.shop.selection();
    const items = picked.map((i) => {
      const li = document.createElement("li");
      li.className = "picked-seat";
      const name = document.createElement("span");
      name.textContent = this.shop.model.name(i);
      const price = document.createElement("span");
      price.className = "price";
      const tier = this.shop.model.price(i);
      price.textContent = tier ? money(tier.priceCents, tier.currency) : "";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.setAttribute("aria-label", `Remove ${this.shop.model.name(i)}`);
      remove.textContent = "×";
      remove.addEventListener("click", () => this.shop.toggle(i));
      li.append(name, price, remove);
      return li;
    });
    this.ui.picked.replaceChildren(...items);
    this.ui.selectionEmpty.hidden = picked.length > 0;
    this.ui.selectionTotal.hidden = picked.length === 0;
    this.ui.selectionTotal.textContent = picked.length ? `${plural(picked.length, "seat")} · ${this._total(picked)}` : "";
    this.ui.hold.disabled = picked.length === 0 || this.busy;
  }

  _total(indices) {
    const tiers = indices.map((i) => this.shop.model.price(i)).filter(Boolean);
    if (!tiers.length) return "";
    return money(
      tiers.reduce((sum, t) => sum + t.priceCents, 0),
      tiers[0].currency,
    );
  }

  _setBusy(busy) {
    this.busy = busy;
    this.ui.hold.disabled = busy || this.shop.selection().length === 0;
    this.ui.best.disabled = busy;
  }

  async holdPicked() {
    const picked = this.shop.selection();
    if (!picked.length || this.busy) return;
    const seatIds = picked.map((i) => this.shop.model.ids[i]);
    this.shop.pending = new Set(picked);
    await this._requestHold({ seatIds }, "hold these seats");
    this.shop.pending = new Set();
  }

  async holdBest() {
    if (this.busy) return;
    const best = { count: Number(this.ui.bestCount.value) };
    if (this.ui.bestTier.value) best.priceTierIds = [this.ui.bestTier.value];
    await this._requestHold({ best }, "find the best available seats");
  }

  async _requestHold(body, what) {
    this._setBusy(true);
    this.alert.clear();
    const headers = { "Idempotency-Key": newKey() };
    const admission = this.admission();
    if (admission) headers["X-Admission-Token"] = admission;
    try {
      const hold = await authed("POST", `/events/${encodeURIComponent(this.event.id)}/holds`, { body, headers });
      this._held(hold);
    } catch (error) {
      if (error instanceof ApiError && error.code === "seats_unavailable" && Array.isArray(error.body.seatIds)) {
        this.shop.unpick(error.body.seatIds);
      }
      this.alert.show(describe(error, { what, seatName: this.seatName }));
      if (error instanceof ApiError && error.code === "admission_required") this.onAdmissionLost();
    } finally {
      this._setBusy(false);
    }
  }

  _held(hold) {
    this.hold = { holdId: hold.holdId, seatIds: hold.seatIds, expiresAt: hold.expiresAt };
    this.memory.set("hold", this.hold);
    this.shop.setMine(hold.seatIds);
    this._showHeld();
  }

  _showHeld() {
    const ui = this.ui;
    ui.pickStep.hidden = true;
    ui.heldStep.hidden = false;
    const items = this.hold.seatIds.map((id) => {
      const li = document.createElement("li");
      li.className = "picked-seat mine";
      li.textContent = this.shop.seatName(id);
      return li;
    });
    ui.heldSeats.replaceChildren(...items);
    const indices = this.hold.seatIds.map((id) => this.shop.model.find(id)).filter((i) => i !== undefined);
    ui.heldTotal.textContent = `${plural(this.hold.seatIds.length, "seat")} · ${this._total(indices)}`;
    ui.pay.disabled = false;
    ui.cancel.disabled = false;
    this._tick();
  }

  _tick() {
    clearTimeout(this.timer);
    if (!this.hold) return;
    const left = (Date.parse(this.hold.expiresAt) - Date.now()) / 1000;
    if (left <= 0) {
      this.ui.countdown.textContent = "Your hold has ended";
      this._ended();
      return;
    }
    this.ui.countdown.textContent = `Seats held for you: ${clock(left)} left`;
    this.ui.countdown.classList.toggle("urgent", left < 60);
    this.timer = setTimeout(() => this._tick(), 1000 - (Date.now() % 1000) + 5);
  }

  async _ended() {
    if (this.paying) return; // the payment's outcome decides
    const hold = this.hold;
    try {
      const now = await authed("GET", `/holds/${encodeURIComponent(hold.holdId)}`);
      if (now.status === "ACTIVE") {
        this.hold.expiresAt = now.expiresAt; // the clock here ran ahead of the server's
        this._tick();
        return;
      }
    } catch {
      // Whatever the reason, the countdown is over: treat the hold as gone.
    }
    this._backToPicking();
    this.alert.show("Your hold expired and the seats were released. Pick seats again to continue.");
  }

  _backToPicking() {
    clearTimeout(this.timer);
    this.hold = null;
    this.memory.set("hold", null);
    this.memory.set("purchase", null);
    this.shop.clearMine();
    this.ui.heldStep.hidden = true;
    this.ui.pickStep.hidden = false;
    this.renderSelection();
  }

  async cancel() {
    if (!this.hold) return;
    this.ui.cancel.disabled = true;
    try {
      await authed("DELETE", `/holds/${encodeURIComponent(this.hold.holdId)}`, { headers: {} });
      this.alert.clear();
      this._backToPicking();
      this._outcome(null);
    } catch (error) {
      this.ui.cancel.disabled = false;
      this.alert.show(describe(error, { what: "cancel the hold" }));
    }
  }

  async pay() {
    if (!this.hold || this.paying) return;
    const token = this.ui.token.value;
    this.ui.pay.disabled = true;
    this.ui.cancel.disabled = true;
    this.alert.clear();
    try {
      const started = await authed("POST", `/holds/${encodeURIComponent(this.hold.holdId)}/purchase`, {
        body: { paymentToken: token },
        headers: { "Idempotency-Key": newKey() },
      });
      this.memory.set("purchase", { purchaseId: started.purchaseId });
      await this._follow(started.purchaseId);
    } catch (error) {
      this.alert.show(describe(error, { what: "start the payment" }));
      if (error instanceof ApiError && error.code === "hold_not_active") this._backToPicking();
      else {
        this.ui.pay.disabled = false;
        this.ui.cancel.disabled = false;
      }
    }
  }

  _outcome(state, build) {
    const out = this.ui.outcome;
    if (!state) {
      out.hidden = true;
      out.replaceChildren();
      delete out.dataset.outcome;
      return;
    }
    out.hidden = false;
    out.dataset.outcome = state;
    out.replaceChildren(...build());
  }

  /** Poll the purchase until it settles, then show the booking or the reason. */
  async _follow(purchaseId) {
    this.paying = true;
    this.ui.pay.disabled = true;
    this.ui.cancel.disabled = true;
    this._outcome("pending", () => [para("Payment in progress… this takes a few seconds.")]);
    let purchase = null;
    for (let n = 0; ; n += 1) {
      try {
        purchase = await authed("GET", `/purchases/${encodeURIComponent(purchaseId)}`);
        if (purchase.status !== "PENDING") break;
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 401)) {
          this.alert.show(describe(error, { what: "check the payment" }));
          break;
        }
        this.alert.show(`${describe(error, { what: "check the payment" })} We keep checking.`, "info");
      }
      await pause(POLL_MS[Math.min(n, POLL_MS.length - 1)]);
    }
    this.paying = false;
    this.memory.set("purchase", null);
    if (purchase && purchase.status === "SUCCEEDED") this._booked(purchase);
    else this._failed(purchase);
  }

  _booked(purchase) {
    clearTimeout(this.timer);
    this.alert.clear();
    this.hold = null;
    this.memory.set("hold", null);
    this.shop.clearMine();
    this.ui.heldStep.hidden = true;
    this._outcome("succeeded", () => {
      const title = document.createElement("p");
      title.className = "outcome-title";
      title.textContent = "You're going! Payment received.";
      const booking = document.createElement("p");
      booking.dataset.bookingId = purchase.bookingId;
      booking.append("Booking ");
      const id = document.createElement("strong");
      id.textContent = purchase.bookingId;
      booking.append(id, ` · ${plural(purchase.seatIds.length, "seat")}`);
      if (purchase.amountCents !== undefined && purchase.currency) {
        booking.append(` · ${money(purchase.amountCents, purchase.currency)}`);
      }
      const seats = para(purchase.seatIds.map((s) => this.shop.seatName(s)).join("; "));
      seats.className = "muted small";
      const actions = document.createElement("p");
      actions.className = "outcome-actions";
      const link = document.createElement("a");
      link.href = "/my/bookings";
      link.className = "button";
      link.textContent = "See my bookings";
      const more = document.createElement("button");
      more.type = "button";
      more.className = "button ghost";
      more.textContent = "Choose more seats";
      more.addEventListener("click", () => {
        this._outcome(null);
        this._backToPicking();
      });
      actions.append(link, more);
      return [title, booking, seats, actions];
    });
  }

  async _failed(purchase) {
    const reason = purchase ? purchase.failureReason : null;
    this._outcome("failed", () => [para(purchase ? failureText(reason) : "We could not learn how the payment went.")]);
    let active = false;
    try {
      const hold = await authed("GET", `/holds/${encodeURIComponent(this.hold.holdId)}`);
      active = hold.status === "ACTIVE";
      if (active) this.hold.expiresAt = hold.expiresAt;
    } catch {
      active = false;
    }
    if (active) {
      this.ui.pay.disabled = false;
      this.ui.cancel.disabled = false;
      this._tick();
    } else {
      this._backToPicking();
    }
  }

  /** After a reload: take the remembered hold (and payment) up again if still alive. */
  async resume() {
    const hold = this.memory.get("hold");
    if (!hold) return;
    let now;
    try {
      now = await authed("GET", `/holds/${encodeURIComponent(hold.holdId)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.memory.set("hold", null);
      else this.alert.show(describe(error, { what: "find your hold" }));
      return;
    }
    const purchase = this.memory.get("purchase");
    if (now.status === "ACTIVE" || now.status === "PURCHASING") {
      this._held(now);
      if (purchase) await this._follow(purchase.purchaseId);
      return;
    }
    if (now.status === "PURCHASED" && purchase) {
      this.hold = now;
      await this._follow(purchase.purchaseId);
      return;
    }
    this.memory.set("hold", null);
    this.memory.set("purchase", null);
    if (now.status === "EXPIRED") this.alert.show("Your hold expired and the seats were released.", "info");
  }
}

function para(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}
