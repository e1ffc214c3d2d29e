// The keyboard and screen-reader way to the seats (WEB.md hooks): a section picker whose
// buttons are named "<section> — <N> available", then every seat of the chosen section as
// one button with data-seat-id and data-status. One seat is in the tab order at a time
// (roving tabindex); arrow keys, Home and End move between seats; Enter or Space toggles.

import { LOOK_NAMES } from "./palette.js";

const WORDS = {
  AVAILABLE: "available",
  HELD: "held by someone else",
  SOLD: "sold",
  SELECTED: "selected",
  MINE: "held for you",
};

export class SeatList {
  constructor({ picker, list, model, look, price, onToggle, onSection }) {
    this.picker = picker;
    this.list = list;
    this.model = model;
    this.look = look;
    this.price = price;
    this.onToggle = onToggle;
    this.onSection = onSection;
    this.current = -1;
    this.buttons = new Map(); // seat index -> its button, for the chosen section
    this.sectionButtons = model.sections.map((section) => this._sectionButton(section));
    picker.replaceChildren(...this.sectionButtons);
    list.addEventListener("keydown", (event) => this._key(event));
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-seat-id]");
      if (button) this.onToggle(this.model.find(button.dataset.seatId));
    });
  }

  _sectionButton(section) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `section-chip tier-${section.tier % 8}`;
    button.setAttribute("aria-pressed", "false");
    const name = document.createElement("span");
    name.className = "section-name";
    name.textContent = section.name;
    const count = document.createElement("span");
    count.className = "section-count";
    button.append(name, count);
    button.addEventListener("click", () => this.onSection(section.index));
    this._label(button, section);
    return button;
  }

  _label(button, section) {
    button.setAttribute("aria-label", `${section.name} — ${section.available} available`);
    button.lastChild.textContent = section.available ? `${section.available} left` : "Sold out";
    button.classList.toggle("sold-out", section.available === 0);
  }

  /** Show the seats of section `s` (every one of them). */
  choose(s) {
    if (s === this.current) return;
    if (this.current >= 0) this.sectionButtons[this.current].setAttribute("aria-pressed", "false");
    this.current = s;
    const section = this.model.sections[s];
    this.sectionButtons[s].setAttribute("aria-pressed", "true");
    this.buttons.clear();
    const rows = document.createDocumentFragment();
    let first = null;
    for (const row of section.rows) {
      const line = document.createElement("div");
      line.className = "seat-row";
      line.setAttribute("role", "group");
      line.setAttribute("aria-label", `Row ${row.id}`);
      const name = document.createElement("span");
      name.className = "row-name";
      name.setAttribute("aria-hidden", "true");
      name.textContent = row.id;
      line.append(name);
      for (const i of row.seats) {
        if (i < 0) continue;
        const button = document.createElement("button");
        button.type = "button";
        button.className = `seat tier-${section.tier % 8}`;
        button.dataset.seatId = this.model.ids[i];
        button.textContent = String(this.model.number[i]);
        button.tabIndex = -1;
        this.buttons.set(i, button);
        this._status(button, i);
        line.append(button);
        first ??= button;
      }
      rows.append(line);
    }
    if (first) first.tabIndex = 0;
    this.list.setAttribute("aria-label", `Seats in ${section.name}`);
    this.list.replaceChildren(rows);
  }

  _status(button, i) {
    const status = LOOK_NAMES[this.look(i)];
    button.dataset.status = status;
    button.setAttribute("aria-pressed", String(status === "SELECTED" || status === "MINE"));
    button.setAttribute("aria-disabled", String(status === "HELD" || status === "SOLD"));
    const row = this.model.sections[this.model.section[i]].rows[this.model.row[i]].id;
    button.setAttribute("aria-label", `Row ${row}, seat ${this.model.number[i]}, ${this.price(i)}, ${WORDS[status]}`);
  }

  /** Seats whose look changed: refresh those of the chosen section. */
  updateSeats(indices) {
    for (const i of indices) {
      const button = this.buttons.get(i);
      if (button) this._status(button, i);
    }
  }

  /** Sections whose available count changed. */
  updateCounts(sections) {
    for (const s of sections) this._label(this.sectionButtons[s], this.model.sections[s]);
  }

  focusSeat(i) {
    const button = this.buttons.get(i);
    if (!button) return;
    for (const other of this.list.querySelectorAll('button[tabindex="0"]')) other.tabIndex = -1;
    button.tabIndex = 0;
    button.focus({ preventScroll: false });
  }

  _key(event) {
    const button = event.target.closest("button[data-seat-id]");
    if (!button) return;
    const line = button.parentElement;
    const seats = [...line.querySelectorAll("button[data-seat-id]")];
    const at = seats.indexOf(button);
    let next = null;
    if (event.key === "ArrowRight") next = seats[at + 1];
    else if (event.key === "ArrowLeft") next = seats[at - 1];
    else if (event.key === "Home") next = seats[0];
    else if (event.key === "End") next = seats[seats.length - 1];
    else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const other = event.key === "ArrowDown" ? line.nextElementSibling : line.previousElementSibling;
      if (other) {
        const them = other.querySelectorAll("button[data-seat-id]");
        next = them[Math.min(at, them.length - 1)];
      }
    } else return;
    event.preventDefault();
    if (next) this.focusSeat(this.model.find(next.dataset.seatId));
  }
}
