// Seat names from seat ids alone (`<sectionId>-<rowId>-<number>`, API.md "Import file").

/** ["s01", "B", "7"] for "s01-B-7"; section ids may contain dashes, rows and numbers do not. */
export function seatParts(seatId) {
  const last = seatId.lastIndexOf("-");
  const middle = seatId.lastIndexOf("-", last - 1);
  if (middle <= 0) return [seatId, "", ""];
  return [seatId.slice(0, middle), seatId.slice(middle + 1, last), seatId.slice(last + 1)];
}

/** "Row B, seat 7 (s01)" when the section's name is not known. */
export function seatLabel(seatId, sectionName) {
  const [section, row, number] = seatParts(seatId);
  if (!row) return seatId;
  return `${sectionName || section}, row ${row}, seat ${number}`;
}
