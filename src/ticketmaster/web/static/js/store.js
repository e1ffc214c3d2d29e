// What the event page remembers across reloads, per event and buyer, in localStorage:
// the queue ticket, the admission, the active hold and the purchase under way.

export class EventMemory {
  constructor(eventId, userId) {
    this.key = `tm.event.${eventId}.${userId}`;
  }

  read() {
    try {
      const value = JSON.parse(localStorage.getItem(this.key) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch {
      return {};
    }
  }

  get(field) {
    return this.read()[field] ?? null;
  }

  set(field, value) {
    const all = this.read();
    if (value === null || value === undefined) delete all[field];
    else all[field] = value;
    localStorage.setItem(this.key, JSON.stringify(all));
  }
}
