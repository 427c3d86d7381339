"""chart.py RESULTS SVG: draws bench/sweep.sh's results (requests/s and p99 against the number of
sessions, per database and access pattern) as one SVG, with no plotting library."""
import math
import re
import sys

rows = []
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if "mode" in f:
        p99 = f["p99"]
        ms = float(re.sub(r"[a-z]+$", "", p99)) * {"us": 0.001, "ms": 1, "s": 1000}[re.sub(r"^[\d.]+", "", p99)]
        rows.append((f["db"], f["mode"], int(f["sessions"]), float(f["rps"]), ms))

series = [(db, mode) for db in ("postgres", "sqlite") for mode in ("uniform", "mix", "hot")]
color = {"postgres": "#1f6feb", "sqlite": "#d1600f"}
dash = {"uniform": "", "mix": "6 4", "hot": "2 3"}
W, H, PAD = 420, 300, 56
sizes = sorted({r[2] for r in rows})


def panel(x0, title, value, log_y):
    vals = [value(r) for r in rows]
    lo, hi = (min(vals), max(vals)) if vals else (0, 1)
    if log_y:
        lo, hi = math.log10(max(lo, 0.01)) - 0.1, math.log10(hi) + 0.1
    else:
        lo, hi = 0, hi * 1.1
    sx = lambda n: x0 + PAD + (math.log10(n) - math.log10(sizes[0])) / max(1e-9, math.log10(sizes[-1]) - math.log10(sizes[0])) * (W - PAD - 40)
    sy = lambda v: 30 + (H - 30 - PAD) * (1 - ((math.log10(max(v, 0.01)) if log_y else v) - lo) / (hi - lo))
    out = [f'<text x="{x0 + W / 2}" y="18" text-anchor="middle" font-weight="600">{title}</text>']
    out.append(f'<line x1="{x0 + PAD}" y1="{H - PAD}" x2="{x0 + W - 40}" y2="{H - PAD}" stroke="#888"/>')
    out.append(f'<line x1="{x0 + PAD}" y1="30" x2="{x0 + PAD}" y2="{H - PAD}" stroke="#888"/>')
    for n in sizes:
        out.append(f'<text x="{sx(n)}" y="{H - PAD + 16}" text-anchor="middle">{n:,}</text>')
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    ticks = [m * 10**e for e in decades for m in (1, 2, 5)] if log_y else [hi / 1.1 * k / 4 for k in range(5)]
    for t in ticks:
        if (math.log10(t) if log_y else t) < lo or (math.log10(t) if log_y else t) > hi:
            continue
        label = f"{t:g}" if log_y else f"{t / 1000:.0f}k"
        out.append(f'<text x="{x0 + PAD - 6}" y="{sy(t) + 4}" text-anchor="end">{label}</text>')
        out.append(f'<line x1="{x0 + PAD}" y1="{sy(t)}" x2="{x0 + W - 40}" y2="{sy(t)}" stroke="#eee"/>')
    out.append(f'<text x="{x0 + W / 2}" y="{H - 14}" text-anchor="middle">live sessions</text>')
    for db, mode in series:
        pts = sorted((r[2], value(r)) for r in rows if r[0] == db and r[1] == mode)
        if not pts:
            continue
        d = " ".join(f"{sx(n):.1f},{sy(v):.1f}" for n, v in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{color[db]}" stroke-width="2" stroke-dasharray="{dash[mode]}"/>')
        for n, v in pts:
            out.append(f'<circle cx="{sx(n):.1f}" cy="{sy(v):.1f}" r="3" fill="{color[db]}"/>')
    return out


parts = panel(0, "get-session requests/s", lambda r: r[3], False) + panel(W, "p99 latency (ms, log)", lambda r: r[4], True)
legend = []
for i, (db, mode) in enumerate(series):
    x = 60 + (i % 3) * 240
    y = H + 14 + (i // 3) * 18
    legend.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 28}" y2="{y - 4}" stroke="{color[db]}" stroke-width="2" stroke-dasharray="{dash[mode]}"/>')
    legend.append(f'<text x="{x + 34}" y="{y}">{"PostgreSQL" if db == "postgres" else "SQLite"}, {mode}</text>')
svg = (
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 50}" font-family="sans-serif" font-size="12">'
    f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(parts + legend) + "</svg>\n"
)
open(sys.argv[2], "w").write(svg)
