// The seat map drawn on a canvas, with level of detail and partial redraws.
//
// View: screen (CSS px) = world (venue units) * scale + (tx, ty). Zoomed out (a seat under
// SEAT_LOD px) each section is one shape coloured by its tier and how much of it is left,
// with its name and count; zoomed in, every seat in view is drawn, grouped by look so a
// whole section is a handful of fills. A full redraw happens only when the view changes
// (zoom, pan, resize) or the model is replaced; a status change marks seats dirty and the
// next animation frame repaints just those seats' cells (or, zoomed out, their sections),
// so a burst of changes costs one frame however many messages it came in.

import { insideSection, seatAt } from "./layout.js";
import { PLATE, PLATE_EDGE, SOLD_COLOUR, paintSeats, tierColour, tint } from "./palette.js";

export const SEAT_LOD = 3.2; // px per seat from which seats are drawn one by one
const DETAIL = 7; // px per seat from which seats are round
const MAX_SCALE = 48;
const BACKGROUND = "#ffffff";

export class SeatMapView {
  /** `look(i)` is what seat i looks like now (palette LOOK), selection included. */
  constructor(canvas, model, look) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.model = model;
    this.look = look;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.width = 0;
    this.height = 0;
    this.ratio = 1;
    this.full = true;
    this.dirtySeats = new Set();
    this.frameRequested = false;
    this.pendingBatches = [];
    this.onPaint = null;
    this.stats = { firstPaintMs: null, fullRedraws: 0, partialRedraws: 0, batches: [] };
    const biggest = Math.max(1, ...model.sections.map((s) => s.end - s.first));
    this.points = Array.from({ length: 5 }, () => new Float32Array(biggest * 2));
    this.counts = new Int32Array(5);
    this.hatch = this._hatch();
    this.resize();
    this.fit();
  }

  _hatch() {
    const tile = document.createElement("canvas");
    tile.width = 8;
    tile.height = 8;
    const t = tile.getContext("2d");
    t.fillStyle = "#eef0f4";
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = SOLD_COLOUR;
    t.lineWidth = 1.5;
    t.beginPath();
    t.moveTo(-2, 10);
    t.lineTo(10, -2);
    t.stroke();
    return this.ctx.createPattern(tile, "repeat");
  }

  resize() {
    const box = this.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(box.width));
    const height = Math.max(1, Math.round(box.height));
    if (width === this.width && height === this.height && ratio === this.ratio) return;
    const first = this.width === 0;
    const centre = first ? null : this.toWorld(this.width / 2, this.height / 2);
    this.width = width;
    this.height = height;
    this.ratio = ratio;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    if (centre) {
      this.tx = width / 2 - centre[0] * this.scale;
      this.ty = height / 2 - centre[1] * this.scale;
    }
    this.redraw();
  }

  get fitScale() {
    const b = this.model.bounds;
    const pad = 16;
    return Math.min((this.width - 2 * pad) / (b.maxX - b.minX), (this.height - 2 * pad) / (b.maxY - b.minY));
  }

  fit() {
    this.showBox(this.model.bounds);
  }

  /** Make world box {minX, minY, maxX, maxY} fill the view. */
  showBox(b, pad = 16) {
    const scale = Math.min((this.width - 2 * pad) / (b.maxX - b.minX), (this.height - 2 * pad) / (b.maxY - b.minY));
    this.scale = Math.min(MAX_SCALE, Math.max(0.05, scale));
    this.tx = this.width / 2 - ((b.minX + b.maxX) / 2) * this.scale;
    this.ty = this.height / 2 - ((b.minY + b.maxY) / 2) * this.scale;
    this.redraw();
  }

  showSection(section) {
    const xs = section.corners.map((c) => c[0]);
    const ys = section.corners.map((c) => c[1]);
    this.showBox({ minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) }, 40);
  }

  toWorld(px, py) {
    return [(px - this.tx) / this.scale, (py - this.ty) / this.scale];
  }

  /** Zoom by `factor` keeping screen point (px, py) still. */
  zoomAt(factor, px, py) {
    const min = Math.min(this.fitScale * 0.6, this.scale);
    const scale = Math.min(MAX_SCALE, Math.max(min, this.scale * factor));
    const [wx, wy] = this.toWorld(px, py);
    this.scale = scale;
    this.tx = px - wx * scale;
    this.ty = py - wy * scale;
    this.redraw();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.redraw();
  }

  get seatMode() {
    return this.scale >= SEAT_LOD;
  }

  redraw() {
    this.full = true;
    this._request();
  }

  /** Repaint these seats at the next frame; `batch` ({t0, changes}) is timed until then. */
  markSeats(indices, batch) {
    for (const i of indices) this.dirtySeats.add(i);
    if (batch) this.pendingBatches.push(batch);
    this._request();
  }

  _request() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this._frame());
  }

  _frame() {
    this.frameRequested = false;
    const started = performance.now();
    if (this.full) {
      this.full = false;
      this.dirtySeats.clear();
      this._drawAll();
      this.stats.fullRedraws += 1;
    } else if (this.dirtySeats.size) {
      this._drawDirty();
      this.stats.partialRedraws += 1;
    }
    const done = performance.now();
    if (this.stats.firstPaintMs === null) {
      this.stats.firstPaintMs = done;
      performance.mark("seatmap-first-paint");
    }
    for (const batch of this.pendingBatches) {
      // ms: from the message's arrival to the end of the frame that shows it.
      this.stats.batches.push({ ...batch, ms: done - batch.t0, drawMs: done - started });
    }
    this.pendingBatches = [];
    if (this.stats.batches.length > 1000) this.stats.batches.splice(0, 500);
    this.onPaint?.();
  }

  _sectionTransform(section) {
    const f = section.frame;
    const k = this.ratio * this.scale;
    this.ctx.setTransform(
      k * f.cos,
      k * f.sin,
      -k * f.sin,
      k * f.cos,
      this.ratio * (f.x * this.scale + this.tx),
      this.ratio * (f.y * this.scale + this.ty),
    );
  }

  _viewTransform() {
    const k = this.ratio * this.scale;
    this.ctx.setTransform(k, 0, 0, k, this.ratio * this.tx, this.ratio * this.ty);
  }

  _visible(section) {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const [x, y] of section.corners) {
      const sx = x * this.scale + this.tx;
      const sy = y * this.scale + this.ty;
      minX = Math.min(minX, sx);
      maxX = Math.max(maxX, sx);
      minY = Math.min(minY, sy);
      maxY = Math.max(maxY, sy);
    }
    section.screen = { minX, minY, maxX, maxY };
    return maxX >= 0 && minX <= this.width && maxY >= 0 && minY <= this.height;
  }

  _drawAll() {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this._drawStage();
    const seats = this.seatMode;
    for (const section of this.model.sections) {
      section.shown = this._visible(section);
      if (!section.shown) continue;
      if (seats) this._drawSeats(section);
      else this._drawShape(section);
    }
    // Names last, over any neighbour's plate.
    for (const section of this.model.sections) {
      if (!section.shown) continue;
      if (seats) this._drawSeatModeName(section);
      else this._drawLabel(section);
    }
  }

  _drawStage() {
    const stage = this.model.stage;
    if (!stage) return;
    const ctx = this.ctx;
    this._viewTransform();
    ctx.fillStyle = "#1f2a44";
    ctx.beginPath();
    ctx.roundRect(stage.x, stage.y, stage.width, stage.height, Math.min(stage.width, stage.height) * 0.12);
    ctx.fill();
    const px = Math.min(stage.width, stage.height) * this.scale;
    if (px < 14) return;
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.font = `600 ${Math.min(18, Math.max(10, px / 5))}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const cx = (stage.x + stage.width / 2) * this.scale + this.tx;
    const cy = (stage.y + stage.height / 2) * this.scale + this.ty;
    ctx.fillText(stage.label || "STAGE", cx, cy);
  }

  _drawSeats(section) {
    const ctx = this.ctx;
    this._sectionTransform(section);
    ctx.fillStyle = PLATE;
    ctx.beginPath();
    ctx.roundRect(-0.4, -0.4, section.width + 0.8, section.depth + 0.8, 0.8);
    ctx.fill();
    const counts = this.counts;
    counts.fill(0);
    const { lx, ly } = this.model;
    for (let i = section.first; i < section.end; i += 1) {
      const look = this.look(i);
      const k = counts[look] * 2;
      const pts = this.points[look];
      pts[k] = lx[i];
      pts[k + 1] = ly[i];
      counts[look] += 1;
    }
    const detailed = this.scale >= DETAIL;
    const pixel = 1 / (this.ratio * this.scale);
    const colour = tierColour(section.tier);
    for (let look = 0; look < 5; look += 1) {
      if (counts[look]) paintSeats(ctx, look, this.points[look], counts[look], colour, detailed, pixel);
    }
    if (this.scale >= 12) this._drawRowNames(section);
  }

  /** Zoomed in: the section's name behind its last row, upright (outside every seat's cell,
   * so repainting a seat never touches it). */
  _drawSeatModeName(section) {
    const f = section.frame;
    const lx = section.width / 2;
    const ly = section.depth + 1.4;
    const x = (f.x + lx * f.cos - ly * f.sin) * this.scale + this.tx;
    const y = (f.y + lx * f.sin + ly * f.cos) * this.scale + this.ty;
    const ctx = this.ctx;
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    ctx.font = `700 ${Math.max(11, Math.min(16, this.scale * 0.9))}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeText(section.name, x, y);
    ctx.fillStyle = "#374151";
    ctx.fillText(section.name, x, y);
  }

  _drawRowNames(section) {
    // Upright in screen space, just before each row's first seat, whatever the rotation.
    const ctx = this.ctx;
    const f = section.frame;
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    ctx.fillStyle = "#6b7280";
    ctx.font = `600 ${Math.min(12, this.scale * 0.5)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    section.rows.forEach((r, index) => {
      const lx = r.offset - 0.9;
      const ly = index + 0.5;
      const x = f.x + lx * f.cos - ly * f.sin;
      const y = f.y + lx * f.sin + ly * f.cos;
      ctx.fillText(r.id, x * this.scale + this.tx, y * this.scale + this.ty);
    });
  }

  _shapeFill(section) {
    const total = section.end - section.first;
    const left = total ? section.available / total : 0;
    if (section.available === 0) return this.hatch;
    // Lighter as it sells out: full colour when all is left, pale when little is.
    return tint(tierColour(section.tier), 0.72 - 0.62 * Math.sqrt(left));
  }

  _drawShape(section) {
    const ctx = this.ctx;
    this._viewTransform();
    ctx.beginPath();
    const [first, ...rest] = section.corners;
    ctx.moveTo(first[0], first[1]);
    for (const [x, y] of rest) ctx.lineTo(x, y);
    ctx.closePath();
    ctx.fillStyle = this._shapeFill(section);
    ctx.fill();
    ctx.lineWidth = 1 / this.scale;
    ctx.strokeStyle = section.available === 0 ? SOLD_COLOUR : PLATE_EDGE;
    ctx.stroke();
    if (section.mine || section.picked) {
      ctx.lineWidth = 2.5 / this.scale;
      ctx.strokeStyle = section.mine ? "#15803d" : "#111827";
      ctx.stroke();
    }
  }

  _drawLabel(section) {
    const s = section.screen;
    const w = s.maxX - s.minX;
    const h = s.maxY - s.minY;
    if (w < 26 || h < 18) return;
    const ctx = this.ctx;
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    const cx = (s.minX + s.maxX) / 2;
    const cy = (s.minY + s.maxY) / 2;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const soldOut = section.available === 0;
    ctx.fillStyle = soldOut ? "#4b5563" : "#0b1220";
    ctx.font = "600 11px system-ui, sans-serif";
    const name = section.name.replace(/^Section /, "");
    const count = soldOut ? "Sold out" : `${section.available} left`;
    const label = soldOut ? "Sold out" : name;
    if (ctx.measureText(label).width > w - 2) return;
    ctx.font = "10px system-ui, sans-serif";
    if (h >= 30 && ctx.measureText(count).width <= w - 2) {
      ctx.fillText(count, cx, cy + 7);
      ctx.font = "600 11px system-ui, sans-serif";
      ctx.fillText(name, cx, cy - 6);
    } else {
      ctx.font = "600 11px system-ui, sans-serif";
      ctx.fillText(label, cx, cy);
    }
  }

  _drawDirty() {
    const ctx = this.ctx;
    const { lx, ly, section: sectionOf } = this.model;
    const sections = this.model.sections;
    if (!this.seatMode) {
      const touched = new Set();
      for (const i of this.dirtySeats) touched.add(sectionOf[i]);
      this.dirtySeats.clear();
      for (const s of touched) {
        const section = sections[s];
        if (!section.shown) continue;
        this._drawShape(section);
        this._drawLabel(section);
      }
      return;
    }
    const detailed = this.scale >= DETAIL;
    const pixel = 1 / (this.ratio * this.scale);
    const one = this.points[0];
    let current = -1;
    for (const i of this.dirtySeats) {
      const section = sections[sectionOf[i]];
      if (!section.shown) continue;
      if (section.index !== current) {
        this._sectionTransform(section);
        current = section.index;
      }
      one[0] = lx[i];
      one[1] = ly[i];
      ctx.fillStyle = PLATE;
      ctx.fillRect(one[0] - 0.5, one[1] - 0.5, 1, 1);
      paintSeats(ctx, this.look(i), one, 1, tierColour(section.tier), detailed, pixel);
    }
    this.dirtySeats.clear();
  }

  /** Where seat i's centre is on screen (CSS px from the canvas's top-left corner). */
  screenOf(i) {
    const f = this.model.sections[this.model.section[i]].frame;
    const lx = this.model.lx[i];
    const ly = this.model.ly[i];
    const x = f.x + lx * f.cos - ly * f.sin;
    const y = f.y + lx * f.sin + ly * f.cos;
    return [x * this.scale + this.tx, y * this.scale + this.ty];
  }

  /** The seat under screen point (px, py) (zoomed in), else the section there; or null. */
  hit(px, py) {
    const [wx, wy] = this.toWorld(px, py);
    for (const section of this.model.sections) {
      if (!insideSection(section, wx, wy, 0.5)) continue;
      return { section, seat: this.seatMode ? seatAt(section, wx, wy) : -1 };
    }
    return null;
  }
}
