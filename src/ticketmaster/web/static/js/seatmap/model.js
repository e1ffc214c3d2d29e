// The seat map as flat typed arrays (a 52,000-seat stadium must stay cheap to update):
// seat i has an id, a section, a row index and a number, a status, and a place on the
// venue drawing (layout.js). Statuses change only through `apply`, which says which seats
// really changed, so the drawing and the list redraw those seats and nothing else.

import { placeSections } from "./layout.js";
import { seatParts } from "./names.js";

export const AVAILABLE = 0;
export const HELD = 1;
export const SOLD = 2;
export const STATUS_NAMES = ["AVAILABLE", "HELD", "SOLD"];
const STATUS_CODES = { AVAILABLE, HELD, SOLD };

export class SeatModel {
  /** From GET /events/{id}/seats and GET /events/{id} (for the tiers' order and prices). */
  constructor(map, event) {
    this.eventId = map.eventId;
    this.version = map.version;
    this.tiers = event.priceTiers.map((tier, index) => ({ ...tier, index }));
    const tierIndex = new Map(this.tiers.map((t) => [t.id, t.index]));
    let total = 0;
    for (const section of map.sections) total += section.seats.length;
    this.count = total;
    this.ids = new Array(total);
    this.status = new Uint8Array(total);
    this.section = new Uint16Array(total);
    this.row = new Uint16Array(total);
    this.number = new Uint16Array(total);
    this.tier = new Uint8Array(total);
    this.lx = new Float32Array(total); // seat centre in its section's frame (layout.js)
    this.ly = new Float32Array(total);
    this.byId = new Map(); // section id -> section
    this.others = null; // seat id -> index for ids `find` cannot parse (built on first need)
    let next = 0;
    this.sections = map.sections.map((raw, s) => {
      const section = this._section(raw, s, next, tierIndex);
      this.byId.set(section.id, section);
      next = section.end;
      return section;
    });
    const placed = placeSections(this.sections, map.stage || null);
    this.stage = placed.stage;
    this.bounds = placed.bounds;
  }

  // Hot: 52,000 seats. No per-seat map insertions or array growth; a row's lookup only
  // when the row changes (the seat map lists seats row by row).
  _section(raw, s, first, tierIndex) {
    const seats = raw.seats;
    const rowOf = new Map();
    const rows = [];
    let row = null;
    for (const seat of seats) {
      if (row === null || seat.row !== row.id) {
        row = rowOf.get(seat.row);
        if (row === undefined) {
          row = { id: seat.row, index: rows.length, width: 0, count: 0, offset: 0, seats: null };
          rowOf.set(seat.row, row);
          rows.push(row);
        }
      }
      if (seat.number > row.width) row.width = seat.number;
      row.count += 1;
    }
    // Rows are centred on the longest (domain/layout.py): seat n of a row of k seats fills
    // the cell from ((W - k) / 2 + n - 1, r).
    const width = rows.reduce((w, r) => Math.max(w, r.count), 0);
    for (const r of rows) {
      r.seats = new Int32Array(r.width).fill(-1);
      r.offset = (width - r.count) / 2;
    }
    let available = 0;
    let tierId = null;
    let tier = 0;
    row = null;
    for (let k = 0; k < seats.length; k += 1) {
      const seat = seats[k];
      const i = first + k;
      if (row === null || seat.row !== row.id) row = rowOf.get(seat.row);
      if (seat.priceTierId !== tierId) {
        tierId = seat.priceTierId;
        tier = tierIndex.get(tierId) ?? 0;
      }
      const status = seat.status === "AVAILABLE" ? AVAILABLE : seat.status === "SOLD" ? SOLD : HELD;
      this.ids[i] = seat.id;
      this.status[i] = status;
      this.section[i] = s;
      this.row[i] = row.index;
      this.number[i] = seat.number;
      this.tier[i] = tier;
      row.seats[seat.number - 1] = i;
      this.lx[i] = row.offset + seat.number - 0.5;
      this.ly[i] = row.index + 0.5;
      if (status === AVAILABLE) available += 1;
    }
    return {
      index: s,
      id: raw.id,
      name: raw.name,
      first,
      end: first + seats.length,
      rows,
      rowOf,
      width,
      depth: rows.length,
      available,
      tier: seats.length ? this.tier[first] : 0,
      geometry: raw.geometry || null,
    };
  }

  /** The index of seat `seatId`, or undefined. Ids are `<section>-<row>-<number>`. */
  find(seatId) {
    const [sectionId, rowId, number] = seatParts(seatId);
    const row = this.byId.get(sectionId)?.rowOf.get(rowId);
    const n = Number(number);
    const i = row && n >= 1 && n <= row.seats.length ? row.seats[n - 1] : -1;
    if (i >= 0 && this.ids[i] === seatId) return i;
    if (this.others === null) this.others = new Map(this.ids.map((id, k) => [id, k]));
    return this.others.get(seatId);
  }

  /** Set statuses from stream changes; returns the indices of seats that really changed. */
  apply(changes) {
    const changed = [];
    for (const change of changes) {
      const i = this.find(change.seatId);
      const status = STATUS_CODES[change.status];
      if (i === undefined || status === undefined || this.status[i] === status) continue;
      const section = this.sections[this.section[i]];
      if (this.status[i] === AVAILABLE) section.available -= 1;
      if (status === AVAILABLE) section.available += 1;
      this.status[i] = status;
      changed.push(i);
    }
    return changed;
  }

  name(i) {
    const section = this.sections[this.section[i]];
    return `${section.name}, row ${section.rows[this.row[i]].id}, seat ${this.number[i]}`;
  }

  price(i) {
    return this.tiers[this.tier[i]];
  }
}
