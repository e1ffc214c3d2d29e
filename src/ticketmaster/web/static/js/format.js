// Formatting shared by the pages: money, dates, durations.

const moneyFormats = new Map();

export function money(cents, currency) {
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    moneyFormats.set(currency, format);
  }
  return format.format(cents / 100);
}

const dateFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

export function when(iso) {
  return dateFormat.format(new Date(iso));
}

const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric" });
const monthFormat = new Intl.DateTimeFormat(undefined, { month: "short" });

/** ["12", "Jan"] for a date badge. */
export function dayMonth(iso) {
  const date = new Date(iso);
  return [dayFormat.format(date), monthFormat.format(date)];
}

/** "about 2 minutes", "less than a minute", … for a waiting time in seconds. */
export function aboutDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "calculating…";
  if (seconds < 60) return "less than a minute";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `about ${hours} h ${rest} min`;
}

/** "9:05" for 545 seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
