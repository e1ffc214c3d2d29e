// Where each section sits on the venue drawing.
//
// Venue units and frames as in domain/layout.py: one seat is a 1 x 1 cell; a section's
// frame has its origin at the front-left corner of its first row, row r spans local y
// from r to r + 1, and its seats are centred on the longest row (model.js keeps each
// seat's centre). `geometry` {x, y, rotation} from the seat map places that origin and
// turns the section clockwise by `rotation` degrees about it. Without geometry the
// sections are laid out here: up to three stand one behind the other, up to six fan out
// below the stage (theatre), more make rings of a bowl around a central stage or field
// (arena, stadium). The first row always faces the stage.

const GAP = 4; // units between neighbouring sections

function frame(x, y, angle) {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // local (lx, ly) -> world (x + lx*cos - ly*sin, y + lx*sin + ly*cos)
  return { x, y, cos, sin, angle };
}

/** A frame whose front edge is at `radius` from (cx, cy) in direction `theta`, centred on it. */
function facing(section, cx, cy, radius, theta) {
  const angle = theta - Math.PI / 2;
  const f = frame(0, 0, angle);
  const half = section.width / 2;
  f.x = cx + radius * Math.cos(theta) - half * f.cos;
  f.y = cy + radius * Math.sin(theta) - half * f.sin;
  return f;
}

function stack(sections) {
  // One to three sections: straight blocks one behind the other, facing the stage.
  const widest = Math.max(...sections.map((s) => s.width));
  let y = 0;
  for (const section of sections) {
    section.frame = frame(-section.width / 2, y, 0);
    y += section.depth + GAP;
  }
  const width = Math.max(8, widest * 0.6);
  const height = Math.max(4, widest * 0.18);
  return { x: -width / 2, y: -height - GAP * 1.5, width, height };
}

function fan(sections) {
  const length = sections.reduce((sum, s) => sum + s.width, 0) + GAP * (sections.length - 1);
  const widest = Math.max(...sections.map((s) => s.width));
  const radius = Math.max(length / (Math.PI * 0.75), widest, 12);
  const span = length / radius;
  let along = 0;
  for (const section of sections) {
    const theta = Math.PI / 2 + span / 2 - (along + section.width / 2) / radius;
    section.frame = facing(section, 0, 0, radius, theta);
    along += section.width + GAP;
  }
  const width = Math.min(radius * 1.2, length);
  const height = Math.max(6, radius * 0.28);
  return { x: -width / 2, y: -height - GAP, width, height };
}

function bowl(sections) {
  const rings = sections.length <= 16 ? 1 : Math.ceil(sections.length / 20);
  const perRing = Math.ceil(sections.length / rings);
  let radius = 0;
  let field = null;
  for (let k = 0; k < rings; k += 1) {
    const ring = sections.slice(k * perRing, (k + 1) * perRing);
    const widest = Math.max(...ring.map((s) => s.width));
    const deepest = Math.max(...ring.map((s) => s.depth));
    const needed = (perRing * (widest + GAP)) / (2 * Math.PI);
    radius = k === 0 ? Math.max(needed, 24) : Math.max(radius, needed);
    if (k === 0) field = { width: radius * 1.15, height: radius * 0.7 };
    const step = (2 * Math.PI) / perRing;
    ring.forEach((section, j) => {
      const theta = Math.PI / 2 + (j + (k % 2) / 2) * step;
      section.frame = facing(section, 0, 0, radius, theta);
    });
    radius += deepest + GAP * 1.5;
  }
  return { x: -field.width / 2, y: -field.height / 2, width: field.width, height: field.height };
}

function corners(section) {
  const f = section.frame;
  const x0 = 0;
  const y0 = 0;
  const x1 = section.width;
  const y1 = section.depth;
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ].map(([lx, ly]) => [f.x + lx * f.cos - ly * f.sin, f.y + lx * f.sin + ly * f.cos]);
}

/** Give every section a `frame`; returns the stage and the drawing's bounds. */
export function placeSections(sections, stage) {
  let placedStage = stage;
  const unplaced = sections.filter((s) => !s.geometry);
  for (const s of sections) {
    if (s.geometry) s.frame = frame(s.geometry.x, s.geometry.y, ((s.geometry.rotation || 0) * Math.PI) / 180);
  }
  if (unplaced.length === sections.length && sections.length) {
    const auto = sections.length <= 3 ? stack(sections) : sections.length <= 6 ? fan(sections) : bowl(sections);
    placedStage = stage || auto;
  } else if (unplaced.length) {
    // Some sections lack geometry: line them up under the placed ones.
    let bottom = -Infinity;
    for (const s of sections) if (s.geometry) for (const [, y] of corners(s)) bottom = Math.max(bottom, y);
    let x = 0;
    for (const s of unplaced) {
      s.frame = frame(x, bottom + GAP * 2, 0);
      x += s.width + GAP;
    }
  }
  const bounds = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
  const grow = (x, y) => {
    bounds.minX = Math.min(bounds.minX, x);
    bounds.minY = Math.min(bounds.minY, y);
    bounds.maxX = Math.max(bounds.maxX, x);
    bounds.maxY = Math.max(bounds.maxY, y);
  };
  for (const s of sections) {
    s.corners = corners(s);
    for (const [x, y] of s.corners) grow(x, y);
  }
  if (placedStage) {
    grow(placedStage.x, placedStage.y);
    grow(placedStage.x + placedStage.width, placedStage.y + placedStage.height);
  }
  if (!Number.isFinite(bounds.minX)) Object.assign(bounds, { minX: 0, minY: 0, maxX: 1, maxY: 1 });
  return { stage: placedStage || null, bounds };
}

/** The seat of `section` under world point (wx, wy), or -1. */
export function seatAt(section, wx, wy) {
  const f = section.frame;
  const dx = wx - f.x;
  const dy = wy - f.y;
  const lx = dx * f.cos + dy * f.sin;
  const ly = -dx * f.sin + dy * f.cos;
  const r = Math.floor(ly);
  if (r < 0 || r >= section.depth) return -1;
  const row = section.rows[r];
  const n = Math.floor(lx - row.offset); // 0-based seat number
  return n >= 0 && n < row.seats.length ? row.seats[n] : -1;
}

/** Whether world point (wx, wy) is inside the section's outline (with a margin in units). */
export function insideSection(section, wx, wy, margin = 0) {
  const f = section.frame;
  const dx = wx - f.x;
  const dy = wy - f.y;
  const lx = dx * f.cos + dy * f.sin;
  const ly = -dx * f.sin + dy * f.cos;
  return lx >= -margin && lx <= section.width + margin && ly >= -margin && ly <= section.depth + margin;
}
