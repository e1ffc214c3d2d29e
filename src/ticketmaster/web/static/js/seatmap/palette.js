// How seats look: a colour per price tier, and a shape per status, so status never rests
// on colour alone (available = filled dot, held = hollow ring, sold = small grey dot,
// selected = dark dot with a white centre, yours = green dot with a white centre).
// The same functions draw the map and the legend.

export const LOOK = { AVAILABLE: 0, HELD: 1, SOLD: 2, SELECTED: 3, MINE: 4 };
export const LOOK_NAMES = ["AVAILABLE", "HELD", "SOLD", "SELECTED", "MINE"];

const TIER_COLOURS = ["#2f6fed", "#d6336c", "#0f9d8a", "#e8890c", "#7b4ddb", "#3b9c2f", "#c2410c", "#0e7490"];
export const INK = "#111827";
export const MINE_COLOUR = "#15803d";
export const HELD_COLOUR = "#8793a6";
export const SOLD_COLOUR = "#b8c0cc";
export const PLATE = "#f3f5f9";
export const PLATE_EDGE = "#dfe4ec";

export function tierColour(index) {
  return TIER_COLOURS[index % TIER_COLOURS.length];
}

/** Hex colour mixed with white by `t` (0: the colour, 1: white). */
export function tint(hex, t) {
  const n = Number.parseInt(hex.slice(1), 16);
  const mix = (c) => Math.round(c + (255 - c) * t);
  return `rgb(${mix(n >> 16)}, ${mix((n >> 8) & 255)}, ${mix(n & 255)})`;
}

/** Add `n` round (or square) shapes of radius `r` at (pts[2k], pts[2k+1]) to a new path. */
function shapes(ctx, pts, n, r, round) {
  ctx.beginPath();
  for (let k = 0; k < 2 * n; k += 2) {
    const x = pts[k];
    const y = pts[k + 1];
    if (round) {
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, Math.PI * 2);
    } else {
      ctx.rect(x - r, y - r, 2 * r, 2 * r);
    }
  }
}

const RADIUS = { [LOOK.AVAILABLE]: 0.4, [LOOK.SOLD]: 0.2, [LOOK.SELECTED]: 0.45, [LOOK.MINE]: 0.45 };

/**
 * Draw `n` seats that look `look`, centred at (pts[2k], pts[2k+1]) in the current
 * transform's units (a seat cell is 1 x 1). `detailed` draws round glyphs (zoomed in),
 * else squares (cheaper); `pixel` is one device pixel in those units.
 */
export function paintSeats(ctx, look, pts, n, colour, detailed, pixel) {
  if (look === LOOK.HELD) {
    shapes(ctx, pts, n, detailed ? 0.3 : 0.32, detailed);
    ctx.lineWidth = Math.max(detailed ? 0.14 : 0.16, pixel);
    ctx.strokeStyle = HELD_COLOUR;
    ctx.stroke();
    return;
  }
  shapes(ctx, pts, n, RADIUS[look], detailed);
  ctx.fillStyle =
    look === LOOK.AVAILABLE ? colour : look === LOOK.SOLD ? SOLD_COLOUR : look === LOOK.SELECTED ? INK : MINE_COLOUR;
  ctx.fill();
  if (look === LOOK.SELECTED || look === LOOK.MINE) {
    shapes(ctx, pts, n, detailed ? 0.16 : 0.18, detailed);
    ctx.fillStyle = "#ffffff";
    ctx.fill();
  }
}

const LEGEND = [
  [LOOK.AVAILABLE, "Available (colour = price tier)"],
  [LOOK.SELECTED, "Selected by you"],
  [LOOK.MINE, "Held for you"],
  [LOOK.HELD, "Held by someone"],
  [LOOK.SOLD, "Sold"],
];

function swatch(look, colour) {
  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  const size = 18;
  canvas.width = size * ratio;
  canvas.height = size * ratio;
  canvas.className = "swatch";
  canvas.setAttribute("aria-hidden", "true");
  const ctx = canvas.getContext("2d");
  ctx.setTransform(size * ratio, 0, 0, size * ratio, 0, 0);
  paintSeats(ctx, look, [0.5, 0.5], 1, colour, true, 1 / (size * ratio));
  return canvas;
}

/** The legend: one item per look, then one per price tier with its price. */
export function renderLegend(list, tiers, money) {
  const items = LEGEND.map(([look, label]) => {
    const item = document.createElement("li");
    item.append(swatch(look, tierColour(0)), document.createTextNode(label));
    return item;
  });
  for (const tier of tiers) {
    const item = document.createElement("li");
    item.className = "legend-tier";
    item.append(swatch(LOOK.AVAILABLE, tierColour(tier.index)));
    item.append(document.createTextNode(`${tier.name} · ${money(tier.priceCents, tier.currency)}`));
    items.push(item);
  }
  list.replaceChildren(...items);
}
