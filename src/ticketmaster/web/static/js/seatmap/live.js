// The live seat stream (GET /events/{id}/seats/stream, Server-Sent Events) paired with the
// seat map's version.
//
// Each message is {"version", "changes": [{seatId, status}]}: the final states that lead
// to `version`. Pairing: messages are buffered until `attach(mapVersion)`; then a message
// at or below the model's version is already in it (skipped); one above it is applied.
// A message without changes above the model's version (the first message of a stream
// that started after the map was read) or an `event: reset` above it means changes were
// missed: `onStale()` asks for a fresh map, and `attach` is called again with its version.
// EventSource reconnects by itself with Last-Event-ID; if the stream is refused (closed
// for good), a new one is opened after a pause and paired the same way.

const REOPEN_MS = 3000;

export class SeatFeed {
  constructor(url, { onChanges, onStale, onState }) {
    this.url = url;
    this.onChanges = onChanges;
    this.onStale = onStale;
    this.onState = onState || (() => {});
    this.version = null; // the model's version; null while there is no (fresh) map
    this.buffer = [];
    this.closed = false;
    this._open();
  }

  _open() {
    const source = new EventSource(this.url);
    this.source = source;
    source.onopen = () => this.onState("live");
    source.onmessage = (event) => this._receive(event.data, false);
    source.addEventListener("reset", (event) => this._receive(event.data, true));
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && !this.closed) {
        this.onState("offline");
        setTimeout(() => {
          if (!this.closed) this._open();
        }, REOPEN_MS);
      } else {
        this.onState("reconnecting");
      }
    };
  }

  _receive(data, reset) {
    const t0 = performance.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof message.version !== "number" || !Array.isArray(message.changes)) return;
    message.reset = reset;
    message.t0 = t0;
    if (this.version === null) this.buffer.push(message);
    else this._handle(message);
  }

  _handle(message) {
    if (message.version <= this.version) return;
    if (message.reset || message.changes.length === 0) {
      this.version = null;
      this.onStale();
      return;
    }
    this.version = message.version;
    this.onChanges(message.changes, message.version, message.t0);
  }

  /** The model now reflects `version`: apply what the stream has said beyond it. */
  attach(version) {
    this.version = version;
    const buffered = this.buffer;
    this.buffer = [];
    for (const message of buffered) {
      if (this.version === null) this.buffer.push(message);
      else this._handle(message);
    }
  }

  close() {
    this.closed = true;
    this.source.close();
  }
}
