"""``curves.png`` of a run: loss and test accuracy (a regression: weight error) per epoch.

Drawn with Pillow (matplotlib's own image library): importing matplotlib takes longer than
a tiny run trains (about 0.8 s of a 3 s run on two cores), and two panels of lines, ticks
and labels need none of it. Sweeps and paper figures (``xbrun report --plot``,
``xbrun figure``) still draw with matplotlib.
"""

from __future__ import annotations

import io
import math

WIDTH, HEIGHT = 900, 340  # matplotlib's 9 x 3.4 inches at 100 dpi, as before
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # matplotlib's C0, C1, C2, C3
MARKED = 50  # points drawn as dots up to this many epochs (a thousand dots hide the line)
INK, GRID = (0, 0, 0), (225, 225, 225)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """About five round values in ``[lo, hi]`` (powers of ten on a log axis)."""
    if log:
        ticks = [10.0 ** k for k in range(math.ceil(math.log10(lo)),
                                           math.floor(math.log10(hi)) + 1)]
        return ticks or [lo, hi]
    raw = (hi - lo) / 5
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, int(math.floor(hi / step + 1e-9)) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


class _Panel:
    """One axes box: data ``(x, y)`` to pixels, with its ticks, grid and labels."""

    def __init__(self, draw, font, box, xs, series, log: bool):
        self.draw, self.font, self.box, self.log = draw, font, box, log
        values = [v for _, ys, _ in series for v in ys
                  if v is not None and math.isfinite(v) and (v > 0 or not log)]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if lo == hi:
            lo, hi = (lo / 2, hi * 2) if log else (lo - 0.5, hi + 0.5)
        self.x_lo, self.x_hi = min(xs), max(xs)
        if self.x_lo == self.x_hi:  # one epoch: in the middle
            self.x_lo, self.x_hi = self.x_lo - 1, self.x_hi + 1
        self.y_lo, self.y_hi = lo, hi
        self.y_ticks = _ticks(lo, hi, log)

    def _y(self, v: float) -> float:
        _, top, _, bottom = self.box
        f = (lambda u: math.log10(u)) if self.log else (lambda u: u)
        span = f(self.y_hi) - f(self.y_lo)
        pad = 0.05 * (bottom - top)
        return bottom - pad - (f(v) - f(self.y_lo)) / span * (bottom - top - 2 * pad)

    def _x(self, v: float) -> float:
        left, _, right, _ = self.box
        pad = 0.05 * (right - left)
        return left + pad + (v - self.x_lo) / (self.x_hi - self.x_lo) * (right - left - 2 * pad)

    def frame(self, x_ticks, x_label: str, y_label: str) -> None:
        left, top, right, bottom = self.box
        for v in self.y_ticks:
            y = self._y(v)
            self.draw.line([(left, y), (right, y)], fill=GRID)
            self.draw.text((left - 6, y), _label(v), fill=INK, font=self.font, anchor="rm")
        for v in x_ticks:
            x = self._x(v)
            self.draw.line([(x, bottom), (x, bottom + 4)], fill=INK)
            self.draw.text((x, bottom + 6), _label(v), fill=INK, font=self.font, anchor="mt")
        self.draw.rectangle(self.box, outline=INK)
        self.draw.text(((left + right) / 2, bottom + 24), x_label, fill=INK, font=self.font,
                       anchor="mt")
        self.draw.text((left - 58, top - 14), y_label, fill=INK, font=self.font, anchor="ls")

    def line(self, xs, ys, colour) -> None:
        points = [(self._x(x), self._y(y)) for x, y in zip(xs, ys, strict=True)
                  if y is not None and math.isfinite(y) and (y > 0 or not self.log)]
        if len(points) > 1:
            self.draw.line(points, fill=colour, width=2)
        for x, y in points if len(points) <= MARKED else []:
            self.draw.ellipse([x - 3.5, y - 3.5, x + 3.5, y + 3.5], fill=colour)


def draw_curves(rows: list[dict], title: str) -> bytes:
    """The PNG of train/test loss and test accuracy (regression: weight error) per epoch."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(12)
    epochs = [r["epoch"] for r in rows]
    x_ticks = _ticks(min(epochs), max(epochs), False) if len(set(epochs)) > 1 else epochs
    x_ticks = [t for t in x_ticks if float(t).is_integer()] or epochs
    regression = rows[0].get("test_accuracy") is None
    losses = [("train", [r["train_loss"] for r in rows], COLOURS[0]),
              ("test", [r["test_loss"] for r in rows], COLOURS[1])]
    val = rows[0].get("val_loss") is not None  # a validation split (dataset.val_fraction)
    if val:
        losses.append(("validation", [r["val_loss"] for r in rows], COLOURS[3]))
    if not regression:
        right = [("test", [100 * r["test_accuracy"] for r in rows], COLOURS[2])]
        if val:
            right.append(("validation", [100 * r["val_accuracy"] for r in rows], COLOURS[3]))
        right_label, left_label = "accuracy (%)", "cross-entropy loss"
    else:
        right = ([("", [r["weight_error"] for r in rows], COLOURS[2])]
                 if "weight_error" in rows[0] else [])
        right_label, left_label = "weight error ||W - W*|| / ||W*||", "loss 1/2 ||Wx - W*x||^2"
    draw.text((WIDTH / 2, 8), title, fill=INK, font=font, anchor="mt")
    for box, series, label, log in (((75, 48, 430, 280), losses, left_label, regression),
                                    ((525, 48, 880, 280), right, right_label, regression)):
        panel = _Panel(draw, font, box, epochs, series or [("", [], INK)], log)
        panel.frame(x_ticks, "epoch", label)
        for _, ys, colour in series:
            panel.line(epochs, ys, colour)
    # the loss panel's legend top right; the accuracy panel's (with validation) bottom right
    legends = [(350, 62, losses), *([(790, 250, right)] if len(right) > 1 else [])]
    for x, top, series in legends:
        for i, (name, _, colour) in enumerate(series):
            y = top + 16 * i
            draw.line([(x, y), (x + 22, y)], fill=colour, width=2)
            draw.text((x + 28, y), name, fill=INK, font=font, anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()

