// The seat map as flat typed arrays (a 52,000-seat stadium must stay cheap to update):
// seat i has an id, a section, a row index and a number, a status, and a place on the
// venue drawing (layout.js). Statuses change only through `apply`, which says which seats
// really changed, so the drawing and the list redraw those seats and nothing else.

import { placeSections } from "./layout.js";

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
    this.index = new Map();
    this.status = new Uint8Array(total);
    this.section = new Uint16Array(total);
    this.row = new Uint16Array(total);
    this.number = new Uint16Array(total);
    this.tier = new Uint8Array(total);
    this.rowNames = []; // per section: row ids in order
    let next = 0;
    this.sections = map.sections.map((raw, s) => {
      const section = this._section(raw, s, next, tierIndex);
      next = section.end;
      return section;
    });
    const placed = placeSections(this.sections, map.stage || null);
    this.stage = placed.stage;
    this.bounds = placed.bounds;
  }

  _section(raw, s, first, tierIndex) {
    const rowOf = new Map();
    const rows = [];
    let available = 0;
    let width = 0;
    let i = first;
    for (const seat of raw.seats) {
      let r = rowOf.get(seat.row);
      if (r === undefined) {
        r = rows.length;
        rowOf.set(seat.row, r);
        rows.push({ id: seat.row, seats: [] });
      }
      const status = STATUS_CODES[seat.status] ?? HELD;
      this.ids[i] = seat.id;
      this.index.set(seat.id, i);
      this.status[i] = status;
      this.section[i] = s;
      this.row[i] = r;
      this.number[i] = seat.number;
      this.tier[i] = tierIndex.get(seat.priceTierId) ?? 0;
      rows[r].seats[seat.number - 1] = i;
      if (seat.number > width) width = seat.number;
      if (status === AVAILABLE) available += 1;
      i += 1;
    }
    const tier = raw.seats.length ? this.tier[first] : 0;
    return {
      index: s,
      id: raw.id,
      name: raw.name,
      first,
      end: i,
      rows: rows.map((r) => ({ id: r.id, seats: Int32Array.from(r.seats, (v) => (v === undefined ? -1 : v)) })),
      width,
      depth: rows.length,
      available,
      tier,
      geometry: raw.geometry || null,
    };
  }

  /** Set statuses from stream changes; returns the indices of seats that really changed. */
  apply(changes) {
    const changed = [];
    for (const change of changes) {
      const i = this.index.get(change.seatId);
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
