// The seat map of one event, live: the model, the drawing, the seat list, the stream, and
// the buyer's selection. A seat looks MINE while it is in the buyer's hold, SELECTED while
// it is picked, else as the server says. A picked seat that someone else takes leaves the
// selection with a note, except while the buyer's own hold of it is on its way.

import { request } from "./api.js";
import { money, plural } from "./format.js";
import { describe } from "./messages.js";
import { LOOK, renderLegend } from "./seatmap/palette.js";
import { AVAILABLE, SeatModel } from "./seatmap/model.js";
import { SeatMapView } from "./seatmap/renderer.js";
import { SeatList } from "./seatmap/seat-list.js";
import { SeatFeed } from "./seatmap/live.js";
import { attachControls } from "./seatmap/interaction.js";

export const MAX_SEATS = 8;

export function fetchMap(eventId) {
  return request("GET", `/events/${encodeURIComponent(eventId)}/seats`);
}

export class Shop {
  constructor({ event, map, feed, alert, elements, onSelection }) {
    this.event = event;
    this.alert = alert;
    this.onSelection = onSelection;
    this.model = new SeatModel(map, event);
    this.selected = new Set();
    this.mine = new Set();
    this.pending = new Set(); // picked seats whose hold request is in flight
    this.frozen = false; // no picking while a hold is active
    const look = (i) => (this.mine.has(i) ? LOOK.MINE : this.selected.has(i) ? LOOK.SELECTED : this.model.status[i]);
    this.look = look;
    this.view = new SeatMapView(elements.canvas, this.model, look);
    this.list = new SeatList({
      picker: elements.picker,
      list: elements.list,
      model: this.model,
      look,
      price: (i) => this.priceText(i),
      onToggle: (i) => this.toggle(i),
      onSection: (s) => this.chooseSection(s, { zoom: true }),
    });
    this.tip = elements.tip;
    attachControls(this.view, {
      onSeat: (i) => this.toggle(i),
      onSection: (section) => this.chooseSection(section.index, { zoom: true }),
      onHover: (hit, point) => this._hover(hit, point),
      buttons: elements.zoom,
    });
    renderLegend(elements.legend, this.model.tiers, money);
    const firstOpen = this.model.sections.findIndex((s) => s.available > 0);
    this.list.choose(Math.max(0, firstOpen));
    this.dirtySections = new Set();
    this.view.onPaint = () => this._flushCounts();
    // Hooks for the bench and the browser tests: the drawing's figures, and where a seat is
    // drawn (the drawing has no elements to find seats by).
    window.__seatmapStats = Object.assign(this.view.stats, { seats: this.model.count, sections: this.model.sections.length });
    window.__seatmap = {
      locate: (seatId) => {
        const i = this.model.find(seatId);
        return i === undefined ? null : { point: this.view.screenOf(i), seatMode: this.view.seatMode };
      },
    };
    this.feed = feed;
    feed.onChanges = (changes, version, t0) => this._changes(changes, t0);
    feed.onStale = () => this.refresh();
    feed.attach(this.model.version);
  }

  priceText(i) {
    const tier = this.model.price(i);
    return tier ? `${tier.name} ${money(tier.priceCents, tier.currency)}` : "";
  }

  seatName(seatId) {
    const i = this.model.find(seatId);
    return i === undefined ? seatId : this.model.name(i);
  }

  chooseSection(s, { zoom = false } = {}) {
    this.list.choose(s);
    if (zoom) this.view.showSection(this.model.sections[s]);
  }

  _hover(hit, point) {
    const i = hit && hit.seat >= 0 ? hit.seat : -1;
    this.view.canvas.classList.toggle("pointing", Boolean(hit));
    if (i < 0 && !(hit && !this.view.seatMode)) {
      this.tip.hidden = true;
      return;
    }
    if (i >= 0) {
      const status = ["available", "held by someone", "sold", "selected", "held for you"][this.look(i)];
      this.tip.textContent = `${this.model.name(i)} · ${this.priceText(i)} · ${status}`;
    } else {
      const section = hit.section;
      this.tip.textContent = `${section.name} · ${plural(section.available, "seat")} left · click to zoom in`;
    }
    this.tip.hidden = false;
    this.tip.style.left = `${point[0] + 14}px`;
    this.tip.style.top = `${point[1] + 14}px`;
  }

  /** Click or Enter/Space on a seat: pick it or put it back. */
  toggle(i) {
    if (i === undefined || i < 0 || this.frozen) return;
    if (this.model.sections[this.model.section[i]].index !== this.list.current) this.list.choose(this.model.section[i]);
    if (this.selected.has(i)) {
      this.selected.delete(i);
    } else {
      if (this.model.status[i] !== AVAILABLE || this.mine.has(i)) return;
      if (this.selected.size >= MAX_SEATS) {
        this.alert.show(`You can pick up to ${MAX_SEATS} seats at a time.`, "info");
        return;
      }
      this.selected.add(i);
    }
    this._repaint([i]);
    this.onSelection();
  }

  selection() {
    return [...this.selected].sort((a, b) => a - b);
  }

  /** Forget picked seats (e.g. the ones a 409 named); returns how many left. */
  unpick(seatIds) {
    const gone = [];
    for (const id of seatIds) {
      const i = this.model.find(id);
      if (i !== undefined && this.selected.delete(i)) gone.push(i);
    }
    this._repaint(gone);
    this.onSelection();
    return gone.length;
  }

  /** The buyer's hold: its seats look MINE and picking stops until it ends. */
  setMine(seatIds) {
    const before = [...this.mine, ...this.selected];
    this.mine = new Set(seatIds.map((id) => this.model.find(id)).filter((i) => i !== undefined));
    this.selected.clear();
    this.frozen = this.mine.size > 0;
    this._repaint([...before, ...this.mine]);
    this.onSelection();
  }

  clearMine() {
    this.setMine([]);
  }

  _repaint(indices) {
    this.view.markSeats(indices);
    this.list.updateSeats(indices);
  }

  _changes(changes, t0) {
    const changed = this.model.apply(changes);
    const taken = [];
    for (const i of changed) {
      this.dirtySections.add(this.model.section[i]);
      if (this.selected.has(i) && this.model.status[i] !== AVAILABLE && !this.pending.has(i)) {
        this.selected.delete(i);
        taken.push(i);
      }
    }
    // The bench (bench/web_map.py) reads these timings from window.__seatmapStats.batches.
    const batch = { t0, changes: changes.length, applied: changed.length, handleMs: 0 };
    this.view.markSeats(changed, batch);
    this.list.updateSeats(changed);
    if (taken.length) {
      const names = taken.map((i) => this.model.name(i)).join("; ");
      this.alert.show(
        taken.length === 1
          ? `${names} was just taken by someone else and has left your selection.`
          : `${taken.length} of your seats were just taken by someone else and have left your selection: ${names}.`,
      );
      this.onSelection();
    }
    batch.handleMs = performance.now() - t0;
  }

  _flushCounts() {
    if (!this.dirtySections.size) return;
    this.list.updateCounts(this.dirtySections);
    this.dirtySections.clear();
  }

  /** The stream missed changes: read the whole map again and take its statuses. */
  async refresh() {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const map = await fetchMap(this.event.id);
        this._changes(
          map.sections.flatMap((s) => s.seats.map((seat) => ({ seatId: seat.id, status: seat.status }))),
          performance.now(),
        );
        this.model.version = map.version;
        this.feed.attach(map.version);
        return;
      } catch (error) {
        if (attempt > 0) this.alert.show(describe(error, { what: "bring the seat map up to date" }));
        await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 1000 * 2 ** attempt)));
      }
    }
  }
}
