// Zoom and pan of the seat map by wheel, drag, pinch and buttons; clicks and hover become
// hit-tested seats or sections. A press that moves less than CLICK_SLOP px is a click.

const CLICK_SLOP = 6;
const BUTTON_ZOOM = 1.6;

export function attachControls(view, { onSeat, onSection, onHover, buttons }) {
  const canvas = view.canvas;
  const pointers = new Map();
  let press = null; // {x, y, moved} of the press that may become a click
  let pinch = null; // {distance, x, y} of the last two-finger position

  const local = (event) => {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  };

  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const [x, y] = local(event);
      const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      view.zoomAt(Math.exp(-delta * (event.ctrlKey ? 0.01 : 0.0018)), x, y);
    },
    { passive: false },
  );

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, local(event));
    if (pointers.size === 1) {
      const [x, y] = local(event);
      press = { x, y, moved: false };
    } else {
      press = null;
      pinch = pinchOf(pointers);
    }
  });

  canvas.addEventListener("pointermove", (event) => {
    const point = local(event);
    if (!pointers.has(event.pointerId)) {
      if (event.pointerType === "mouse") onHover(view.hit(point[0], point[1]), point);
      return;
    }
    const [lastX, lastY] = pointers.get(event.pointerId);
    pointers.set(event.pointerId, point);
    if (pointers.size === 1) {
      if (press && Math.hypot(point[0] - press.x, point[1] - press.y) > CLICK_SLOP) press.moved = true;
      if (!press || press.moved) view.panBy(point[0] - lastX, point[1] - lastY);
      onHover(null, point);
      return;
    }
    const now = pinchOf(pointers);
    if (pinch) {
      view.panBy(now.x - pinch.x, now.y - pinch.y);
      if (pinch.distance > 0) view.zoomAt(now.distance / pinch.distance, now.x, now.y);
    }
    pinch = now;
  });

  const release = (event) => {
    if (!pointers.has(event.pointerId)) return;
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinch = null;
    if (event.type === "pointerup" && press && !press.moved && pointers.size === 0) {
      const hit = view.hit(press.x, press.y);
      if (hit && hit.seat >= 0) onSeat(hit.seat);
      else if (hit) onSection(hit.section);
    }
    if (pointers.size === 0) press = null;
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("pointerleave", (event) => {
    if (event.pointerType === "mouse") onHover(null, null);
  });

  buttons.zoomIn.addEventListener("click", () => view.zoomAt(BUTTON_ZOOM, view.width / 2, view.height / 2));
  buttons.zoomOut.addEventListener("click", () => view.zoomAt(1 / BUTTON_ZOOM, view.width / 2, view.height / 2));
  buttons.fit.addEventListener("click", () => view.fit());

  new ResizeObserver(() => view.resize()).observe(canvas);
}

function pinchOf(pointers) {
  const [a, b] = [...pointers.values()];
  return { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), x: (a[0] + b[0]) / 2, y: (a[1] + b[1]) / 2 };
}
