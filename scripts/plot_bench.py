#!/usr/bin/env python3
"""Draws throughput and p99 latency against offered load from `cairn bench --json` reports.

Usage: plot_bench.py <dir of rate-*.json> <out.svg>. Standard library only, so the plot can be
regenerated on any machine that ran the sweep.
"""
import glob
import json
import os
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    points = []
    for path in glob.glob(os.path.join(src, "rate-*.json")):
        with open(path) as f:
            text = f.read().strip()
        if not text:
            continue
        r = json.loads(text)
        points.append((r["offered_rate"], r["entries_per_sec"], r["write_latency_ms"]["p99"]))
    points.sort()
    if not points:
        sys.exit("no reports found in " + src)
    w, h, left, right, top, bottom = 720, 420, 70, 70, 40, 60
    max_x = max(p[0] for p in points) * 1.05
    max_t = max(max(p[1] for p in points), max_x) * 1.05
    max_l = max(p[2] for p in points) * 1.15 or 1.0

    def x(v):
        return left + (w - left - right) * v / max_x

    def yt(v):
        return h - bottom - (h - top - bottom) * v / max_t

    def yl(v):
        return h - bottom - (h - top - bottom) * v / max_l

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w/2}" y="20" text-anchor="middle" font-size="14">cairn bench: throughput and p99 latency vs offered load</text>',
        f'<line x1="{left}" y1="{h-bottom}" x2="{w-right}" y2="{h-bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h-bottom}" stroke="black"/>',
        f'<line x1="{w-right}" y1="{top}" x2="{w-right}" y2="{h-bottom}" stroke="black"/>',
        f'<text x="{w/2}" y="{h-15}" text-anchor="middle">offered load (entries/s)</text>',
        f'<text x="15" y="{h/2}" transform="rotate(-90 15 {h/2})" text-anchor="middle" fill="#1f77b4">achieved entries/s</text>',
        f'<text x="{w-12}" y="{h/2}" transform="rotate(90 {w-12} {h/2})" text-anchor="middle" fill="#d62728">p99 submit→receipt (ms)</text>',
    ]
    for i in range(6):
        vx = max_x * i / 5
        svg.append(f'<text x="{x(vx)}" y="{h-bottom+16}" text-anchor="middle">{vx:,.0f}</text>')
        vt = max_t * i / 5
        svg.append(f'<text x="{left-6}" y="{yt(vt)+4}" text-anchor="end" fill="#1f77b4">{vt:,.0f}</text>')
        vl = max_l * i / 5
        svg.append(f'<text x="{w-right+6}" y="{yl(vl)+4}" fill="#d62728">{vl:.0f}</text>')
    svg.append(f'<line x1="{x(0)}" y1="{yt(0)}" x2="{x(max_x)}" y2="{yt(max_x)}" stroke="#bbb" stroke-dasharray="4"/>')
    for series, y, colour in ((1, yt, "#1f77b4"), (2, yl, "#d62728")):
        pts = " ".join(f"{x(p[0]):.1f},{y(p[series]):.1f}" for p in points)
        svg.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in points:
            svg.append(f'<circle cx="{x(p[0]):.1f}" cy="{y(p[series]):.1f}" r="3" fill="{colour}"/>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {out} ({len(points)} points)")


if __name__ == "__main__":
    main()
