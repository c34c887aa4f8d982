#!/usr/bin/env python3
"""Draws docs/growth.svg from the growth table in docs/performance.md (stdlib only).

Usage: python3 scripts/plot_growth.py  (run from the repository root)
Rows of the table "| GPUs | ... | wall s | peak MB | ..." between the markers
<!-- growth --> and <!-- /growth --> give x (GPUs), wall seconds and peak RSS in MB;
both axes are logarithmic.
"""
import math
import re

text = open("docs/performance.md", encoding="utf-8").read()
block = text.split("<!-- growth -->")[1].split("<!-- /growth -->")[0]
points = []
for line in block.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 5 or not re.match(r"^[\d,]+$", cells[0]):
        continue
    gpus = int(cells[0].replace(",", ""))
    seconds = float(cells[3].split()[0])
    mb = float(cells[4].split()[0].replace(",", ""))
    points.append((gpus, seconds, mb))

W, H, M = 640, 360, 60
xs = [math.log10(p[0]) for p in points]
x0, x1 = math.floor(min(xs)), math.ceil(max(xs))


def sx(g):
    return M + (math.log10(g) - x0) / (x1 - x0) * (W - 2 * M)


def sy(v, lo, hi):
    return H - M - (math.log10(v) - lo) / (hi - lo) * (H - 2 * M)


parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<line x1="{M}" y1="{H-M}" x2="{W-M}" y2="{H-M}" stroke="black"/>']
for e in range(x0, x1 + 1):
    x = sx(10 ** e)
    parts.append(f'<text x="{x:.0f}" y="{H-M+16}" text-anchor="middle">{10**e:,}</text>')
parts.append(f'<text x="{W/2:.0f}" y="{H-15}" text-anchor="middle">GPUs (log scale)</text>')
for key, colour, label in ((1, "#1f77b4", "wall time, s"), (2, "#d62728", "peak RSS, MB")):
    lo, hi = -1, 4
    path = " ".join(f"{sx(p[0]):.1f},{sy(p[key], lo, hi):.1f}" for p in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for p in points:
        parts.append(f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[key], lo, hi):.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{sx(p[0])+5:.1f}" y="{sy(p[key], lo, hi)-5:.1f}" fill="{colour}">{p[key]:g}</text>')
    y = 20 + 16 * key
    parts.append(f'<text x="{M}" y="{y}" fill="{colour}">{label} (log scale, 0.1 to 10,000)</text>')
parts.append("</svg>")
open("docs/growth.svg", "w", encoding="utf-8").write("\n".join(parts) + "\n")
print(f"docs/growth.svg: {len(points)} points")
