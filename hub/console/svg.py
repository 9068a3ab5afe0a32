"""Pictures drawn on the server as inline SVG: the case timeline and the 12-week trend.

Only presentation attributes and classes, no style attributes, so the CSP needs no
'unsafe-inline'. Every text is escaped.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from hub.console import levels as L
from hub.domain import states as S

LANE_H, LEFT, WIDTH, TOP = 34, 190, 980, 28


def _day(v: datetime | date) -> date:
    return L.beijing_date(v) if isinstance(v, datetime) else v


def timeline(case: dict[str, Any], now: datetime, lang: str = "zh") -> Markup:
    items = case["items"]
    today = L.beijing_date(now)
    days = [_day(case["created_at"]), today]
    days += [_day(h["at"]) for h in case["history"]]
    days += [d for it in items for d in (it["promised_by"], it["statutory_by"]) if d]
    start, end = min(days) - timedelta(days=1), max(days) + timedelta(days=2)
    span = max(1, (end - start).days)

    def x(d: date) -> float:
        return round(LEFT + (WIDTH - LEFT - 10) * (d - start).days / span, 1)

    def xt(t: datetime) -> float:
        frac = (t.astimezone(L.BEIJING) - datetime.combine(start, datetime.min.time(),
                                                           L.BEIJING)).total_seconds() / 86400
        return round(LEFT + (WIDTH - LEFT - 10) * frac / span, 1)

    height = TOP + LANE_H * len(items) + 24
    out = [f'<svg class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
           f'xmlns="http://www.w3.org/2000/svg" data-case="{escape(case["id"])}">',
           f'<title>{escape("办件时间线" if lang == "zh" else "Case timeline")}</title>']
    # a tick every week
    tick = start + timedelta(days=(7 - start.weekday()) % 7)
    while tick <= end:
        out.append(f'<line class="tick" x1="{x(tick)}" y1="{TOP - 6}" x2="{x(tick)}" '
                   f'y2="{height - 20}" stroke="#ddd"/>'
                   f'<text class="tick-label" x="{x(tick)}" y="{height - 6}" font-size="10" '
                   f'text-anchor="middle" fill="#666">{tick.strftime("%m-%d")}</text>')
        tick += timedelta(days=7)
    out.append(f'<line class="today-line" x1="{x(today)}" y1="{TOP - 10}" x2="{x(today)}" '
               f'y2="{height - 20}" stroke="#1565c0" stroke-width="2"><title>'
               f'{escape("今天" if lang == "zh" else "Today")} {today.isoformat()}</title></line>')
    by_code: dict[str, list[dict[str, Any]]] = {}
    for h in case["history"]:
        by_code.setdefault(h["code"], []).append(h)
    for i, it in enumerate(items):
        y = TOP + LANE_H * i + LANE_H / 2
        out.append(f'<g class="lane" data-item="{escape(it["code"])}">')
        out.append(f'<text x="4" y="{y + 4}" font-size="12" fill="#222">'
                   f'{escape(it["label"])}</text>')
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - 10}" y2="{y}" stroke="#bbb"/>')
        for kind, d, colour in (("promised", it["promised_by"], "#ef6c00"),
                                ("statutory", it["statutory_by"], "#c62828")):
            if d:
                word = {"promised": ("承诺时限", "Promised by"),
                        "statutory": ("法定时限", "Statutory limit")}[kind][lang != "zh"]
                out.append(f'<line class="deadline {kind}-line" x1="{x(d)}" y1="{y - 13}" '
                           f'x2="{x(d)}" y2="{y + 13}" stroke="{colour}" stroke-width="3" '
                           f'stroke-dasharray="{"4 2" if kind == "promised" else "none"}">'
                           f'<title>{escape(word)} {d.isoformat()}</title></line>')
        for h in by_code.get(it["code"], []):
            final = h["to"] in S.FINAL
            out.append(f'<circle class="mark state-{escape(h["to"])}" cx="{xt(h["at"])}" '
                       f'cy="{y}" r="{6 if final else 4.5}" '
                       f'fill="{"#2e7d32" if h["to"] == S.COMPLETED else "#455a64"}">'
                       f'<title>{escape(S.label(h["to"], lang))} '
                       f'{h["at"].astimezone(L.BEIJING).isoformat(timespec="minutes")}'
                       f'</title></circle>')
        out.append('</g>')
    out.append('</svg>')
    return Markup("".join(out))


def trend(weeks: list[dict[str, Any]], lang: str = "zh") -> Markup:
    """Bars: items completed per week (green: in time, orange: late); red dots: overdue
    warnings raised that week."""
    w, h, pad = 720, 200, 30
    top = max([wk["on_time"] + wk["late"] for wk in weeks] + [wk["overdue"] for wk in weeks] + [1])
    bw = (w - 2 * pad) / max(1, len(weeks))
    out = [f'<svg class="trend" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>'
           f'{escape("近12周趋势" if lang == "zh" else "Last 12 weeks")}</title>',
           f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>']
    scale = (h - 2 * pad) / top
    for i, wk in enumerate(weeks):
        x0 = pad + i * bw + 4
        hg, hl = wk["on_time"] * scale, wk["late"] * scale
        out.append(f'<rect class="bar-on-time" x="{x0:.1f}" y="{h - pad - hg:.1f}" '
                   f'width="{bw - 8:.1f}" height="{hg:.1f}" fill="#66bb6a">'
                   f'<title>{wk["on_time"]}</title></rect>')
        out.append(f'<rect class="bar-late" x="{x0:.1f}" y="{h - pad - hg - hl:.1f}" '
                   f'width="{bw - 8:.1f}" height="{hl:.1f}" fill="#ffa726">'
                   f'<title>{wk["late"]}</title></rect>')
        if wk["overdue"]:
            cy = h - pad - wk["overdue"] * scale
            out.append(f'<circle class="dot-overdue" cx="{x0 + (bw - 8) / 2:.1f}" cy="{cy:.1f}" '
                       f'r="4" fill="#c62828"><title>{wk["overdue"]}</title></circle>')
        out.append(f'<text x="{x0 + (bw - 8) / 2:.1f}" y="{h - 10}" font-size="10" '
                   f'text-anchor="middle" fill="#555">{escape(wk["label"])}</text>')
    out.append('</svg>')
    return Markup("".join(out))
