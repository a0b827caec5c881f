// Pure geometry for the viewer: orientation letters, measurement, fitting. No DOM here, so the
// browser test can check these against known answers.

// The patient-direction letter(s) of a direction vector (DICOM LPS: +x left, +y posterior,
// +z head), most significant first, components under 0.25 ignored (PS3.3 C.7.6.1.1.1).
export function directionLetters(v) {
  const parts = [
    [v[0], 'L', 'R'],
    [v[1], 'P', 'A'],
    [v[2], 'H', 'F'],
  ].filter(([c]) => Math.abs(c) >= 0.25)
    .sort((a, b) => Math.abs(b[0]) - Math.abs(a[0]));
  return parts.map(([c, pos, neg]) => (c > 0 ? pos : neg)).join('');
}

// Letters at the four edges of an image with Image Orientation (Patient) `o` (row cosines then
// column cosines): the right edge is where rows go, the bottom edge where columns go.
export function orientationLabels(o) {
  if (!Array.isArray(o) || o.length !== 6) return null;
  const row = o.slice(0, 3);
  const col = o.slice(3, 6);
  const neg = (v) => v.map((x) => -x);
  return {
    left: directionLetters(neg(row)), right: directionLetters(row),
    top: directionLetters(neg(col)), bottom: directionLetters(col),
  };
}

// Length of the segment (x0,y0)-(x1,y1) in image pixel coordinates, in mm given Pixel Spacing
// [row spacing (between rows, vertical), column spacing (horizontal)]; null without spacing.
export function lengthMm(x0, y0, x1, y1, spacing) {
  if (!Array.isArray(spacing) || spacing.length !== 2) return null;
  const dx = (x1 - x0) * spacing[1];
  const dy = (y1 - y0) * spacing[0];
  return Math.hypot(dx, dy);
}

export function lengthPx(x0, y0, x1, y1) {
  return Math.hypot(x1 - x0, y1 - y0);
}

// Scale that fits a w x h image in a box, and hours until `expiresAt` (ISO 8601) from `now` (ms).
export function fitScale(w, h, boxW, boxH) {
  return Math.min(boxW / w, boxH / h);
}

export function hoursLeft(expiresAt, now) {
  const t = Date.parse(expiresAt);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.floor((t - now) / 3600000));
}

// Window drag: horizontal changes width, vertical changes center, scaled to the current width so
// that a drag across the screen covers a useful range.
export function dragWindow(start, dx, dy) {
  const k = Math.max(1, start.width) / 300;
  return {
    center: Math.round(start.center - dy * k),
    width: Math.max(1, Math.round(start.width + dx * k * 2)),
  };
}
