// The waiting room of an event (API.md "Waiting room"): join once (the queue ticket is
// remembered, so a reload keeps the place), poll the status, show the position, the
// people ahead and the estimated wait, and resolve with the admission once admitted.
// The progress bar measures the way from where this buyer started to the front.

import { ApiError, authed, pause } from "./api.js";
import { aboutDuration, plural, when } from "./format.js";
import { describe } from "./messages.js";

const POLL_MS = 1000;

export class WaitingRoom {
  constructor({ event, memory, alert, ui }) {
    this.event = event;
    this.memory = memory;
    this.alert = alert;
    this.ui = ui;
    this.start = null; // people ahead when this buyer first saw a position
  }

  /** A stored admission still valid for a while, else null. */
  admission() {
    const admission = this.memory.get("admission");
    if (!admission || Date.parse(admission.expiresAt) - Date.now() < 5000) return null;
    return admission;
  }

  forget() {
    this.memory.set("admission", null);
    this.memory.set("queue", null);
  }

  async _join() {
    const path = `/events/${encodeURIComponent(this.event.id)}/queue`;
    const joined = await authed("POST", path, { headers: {} });
    this.memory.set("queue", { queueToken: joined.queueToken });
    return joined.queueToken;
  }

  _show(status) {
    const ui = this.ui;
    if (status.position === null || status.position === undefined) {
      ui.position.textContent = `In line before the sale opens${status.onSaleAt ? ` (${when(status.onSaleAt)})` : ""}`;
      ui.ahead.textContent = "Places are drawn at random when the sale opens";
      ui.eta.textContent = "—";
      this._progress(0, "Waiting for the sale to open");
      return;
    }
    const ahead = Math.max(0, status.ahead ?? 0);
    if (this.start === null || ahead > this.start) this.start = ahead;
    ui.position.textContent = `Position ${status.position}`;
    ui.ahead.textContent = ahead === 0 ? "Nobody — you're next" : plural(ahead, "person", "people");
    ui.eta.textContent = aboutDuration(status.estimatedWaitSeconds);
    const done = this.start === 0 ? 100 : Math.round(((this.start - ahead) / this.start) * 100);
    this._progress(done, `Position ${status.position}, ${plural(ahead, "person", "people")} ahead`);
  }

  _progress(percent, text) {
    this.ui.bar.setAttribute("aria-valuenow", String(percent));
    this.ui.bar.setAttribute("aria-valuetext", text);
    this.ui.fill.style.width = `${Math.max(2, percent)}%`;
  }

  /** Wait in line until admitted; resolves with {admissionToken, expiresAt}. */
  async admitted() {
    this.ui.section.hidden = false;
    let failures = 0;
    for (;;) {
      try {
        let token = this.memory.get("queue")?.queueToken;
        if (!token) token = await this._join();
        const status = await authed("GET", `/events/${encodeURIComponent(this.event.id)}/queue/status`, {
          headers: { "X-Queue-Token": token },
        });
        failures = 0;
        if (status.admitted) {
          const admission = { admissionToken: status.admissionToken, expiresAt: status.expiresAt };
          this.memory.set("admission", admission);
          this._progress(100, "Admitted");
          this.ui.position.textContent = "It's your turn!";
          this.alert.clear();
          this.ui.section.hidden = true;
          return admission;
        }
        if (status.admissionExpired) {
          this.memory.set("queue", null);
          this.alert.show("Your turn came and went while this page was away, so you have a new place in line.", "info");
          this.start = null;
          continue;
        }
        this.alert.clear();
        this._show(status);
      } catch (error) {
        failures += 1;
        const badTicket = error instanceof ApiError && (error.status === 401 || error.status === 403);
        if (badTicket) this.memory.set("queue", null);
        this.alert.show(`${describe(error, { what: "check your place in line" })} We keep trying.`);
        await pause(Math.min(10000, (error.retryAfter || 1) * 1000 * Math.min(failures, 5)));
        continue;
      }
      await pause(POLL_MS);
    }
  }
}
