"""``gradebook.html``: one self-contained page (no network, a few lines of script to sort tables)
for the instructor: each check's pass rate across the class and the commonest reasons it failed,
which is what to re-teach, then every learner's grade, flagged learners and who was not graded."""

from __future__ import annotations

from html import escape
from pathlib import Path
from statistics import median
from typing import Any

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2329; }
h1 { margin: 0 0 4px; font-size: 22px; } h2 { margin: 28px 0 8px; font-size: 17px; }
.meta, .note { color: #57606a; margin: 4px 0; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f3f5f7; cursor: pointer; user-select: none; white-space: nowrap; position: sticky; top: 0; }
thead th[data-dir=asc]::after { content: " \\25B2"; } thead th[data-dir=desc]::after { content: " \\25BC"; }
tfoot th { background: #f3f5f7; font-weight: normal; color: #57606a; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pass { color: #1a7f37; text-align: center; } td.fail { color: #cf222e; text-align: center; background: #fff5f5; }
td.none { color: #8c959f; text-align: center; }
tr.flagged td:first-child { box-shadow: inset 4px 0 #bf8700; }
tr.ungraded td { color: #8c959f; }
.flag { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px; background: #fff1c2;
        color: #7d4e00; font-size: 12px; }
.bar { display: inline-block; width: 90px; height: 9px; background: #eaeef2; border-radius: 5px;
       vertical-align: middle; margin-right: 6px; overflow: hidden; }
.bar span { display: block; height: 100%; background: #2da44e; }
.bar.low span { background: #cf222e; } .bar.mid span { background: #d4a72c; }
table.checks td:nth-child(3) { max-width: 340px; }
ol.reasons { margin: 0; padding-left: 18px; min-width: 280px; max-width: 560px; overflow-wrap: anywhere; }
.count { font-weight: 600; margin-right: 4px; }
td.rate { white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
table.learners td:first-child, table.learners th:first-child { position: sticky; left: 0; white-space: nowrap; }
table.learners td:first-child { background: #fff; } table.learners tr.ungraded td:first-child { background: #fafbfc; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; }
code { font-size: 12px; }
"""

# Click a header to sort its table; again to reverse. Numbers (data-sort, else the text) sort as
# numbers, and empty cells go last either way.
SCRIPT = """
for (const table of document.querySelectorAll("table.sortable")) {
  table.tHead.addEventListener("click", (event) => {
    const th = event.target.closest("th"); if (!th) return;
    const dir = th.dataset.dir === "asc" ? -1 : 1, column = th.cellIndex;
    for (const other of th.parentNode.cells) delete other.dataset.dir;
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    const key = (row) => { const cell = row.cells[column]; const v = (cell.dataset.sort ?? cell.textContent).trim();
      return v === "" ? [2, ""] : isNaN(v) ? [1, v.toLowerCase()] : [0, Number(v)]; };
    const rows = [...table.tBodies[0].rows].sort((a, b) => { const [ka, va] = key(a), [kb, vb] = key(b);
      return ka - kb || (va < vb ? -dir : va > vb ? dir : 0); });
    table.tBodies[0].append(...rows);
  });
}
"""


def write_html(path: Path, book: dict[str, Any]) -> None:
    path.write_text(page(book))


def page(book: dict[str, Any]) -> str:
    labels = {check["id"]: f"C{number}" for number, check in enumerate(book["checks"], 1)}
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Gradebook {escape(book['generated'])}</title><style>{STYLE}</style></head><body>",
        "<h1>Gradebook</h1>", f'<p class="meta">{escape(_summary(book))}</p>', _nav(book),
        _learners_table(book, labels), _checks_table(book, labels), _flagged(book), _not_graded(book),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _nav(book: dict[str, Any]) -> str:
    links = [("learners", "Learners"), ("checks", "Checks: what to re-teach")]
    links += [("flagged", "Flagged")] if any(x["flagged"] for x in book["learners"]) else []
    links += [("not-graded", "Not graded")] if any(x["earned"] is None for x in book["learners"]) else []
    return "<nav>" + "".join(f'<a href="#{anchor}">{text}</a>' for anchor, text in links) + "</nav>"


def _summary(book: dict[str, Any]) -> str:
    learners = book["learners"]
    graded = [x for x in learners if x["earned"] is not None]
    flagged = sum(1 for x in learners if x["flagged"])
    scope = f"lab {book['lab']}" if book["lab"] else "all labs"
    text = (f"Generated {book['generated']} · {scope} · {len(learners)} learners: {len(graded)} graded, "
            f"{len(learners) - len(graded)} not graded, {flagged} flagged")
    if graded:
        text += f" · median {round(median(x['percent'] or 0 for x in graded), 1):g}% of {book['points']} points"
    return text


def _rate(rate: float | None, passed: int, graded: int) -> str:
    if rate is None:
        return '<td class="none" data-sort="">–</td>'
    level = "low" if rate < 0.5 else "mid" if rate < 0.8 else ""
    return (f'<td class="rate" data-sort="{rate}"><span class="bar {level}">'
            f'<span style="width:{rate * 100:.0f}%"></span></span>{rate * 100:.0f}% ({passed}/{graded})</td>')


def _checks_table(book: dict[str, Any], labels: dict[str, str]) -> str:
    if not book["checks"]:
        return ""
    rows = []
    hardest_first = sorted(book["checks"], key=lambda c: (c["pass_rate"] is None, c["pass_rate"] or 0))
    for check in hardest_first:
        reasons = "".join(f'<li><span class="count">{r["learners"]}×</span>{escape(r["reason"])}</li>'
                          for r in check["failure_reasons"])
        rows.append(
            f'<tr><td data-sort="{labels[check["id"]][1:]}">{labels[check["id"]]}</td><td>{escape(check["lab"])}</td>'
            f'<td><code>{_breakable(check["check"])}</code></td><td class="num">{check["points"]}</td>'
            f'{_rate(check["pass_rate"], check["passed"], check["graded"])}'
            f'<td>{f"<ol class=reasons>{reasons}</ol>" if reasons else ""}</td></tr>')
    return ('<h2 id="checks">Checks: what to re-teach</h2>'
            '<p class="note">Hardest first. The pass rate counts the learners graded; the reasons are the '
            "first line of each failure (numbers aside), most common first.</p>"
            '<table class="sortable checks"><thead><tr><th>#</th><th>lab</th><th>check</th><th class="num">points</th>'
            "<th>pass rate</th><th>most common failure reasons</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _breakable(name: str) -> str:
    """A long test name may wrap after each underscore."""
    return "_<wbr>".join(escape(part) for part in name.split("_"))


def _learners_table(book: dict[str, Any], labels: dict[str, str]) -> str:
    head = ["<th>learner</th><th>status</th><th class='num'>total</th><th class='num'>%</th>"]
    head += [f'<th class="num" title="out of {lab["points"]}">{_breakable(lab["lab"])}</th>' for lab in book["labs"]]
    head += [f'<th title="{escape(c["id"])}">{labels[c["id"]]}</th>' for c in book["checks"]]
    body = [_learner_row(learner) for learner in book["learners"]]
    graded = [x for x in book["learners"] if x["earned"] is not None]
    means = "".join(_foot_mean([lab["earned"] for x in graded for lab in x["labs"] if lab["lab"] == name])
                    for name in (lab["lab"] for lab in book["labs"]))
    rates = "".join(_foot_rate(check) for check in book["checks"])
    foot = (f'<tfoot><tr><th colspan="4">mean points; pass rate across the class</th>{means}{rates}</tr></tfoot>'
            if book["checks"] else "")
    return ('<h2 id="learners">Learners</h2>'
            '<p class="note">Click a column to sort. ✓ passed, ✗ not passed (hover for why); hover a check\'s '
            "number for its name. ⚑ flagged: files outside labs/ differ from the kit (they were ignored).</p>"
            f'<div class="scroll"><table class="sortable learners"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody>{foot}</table></div>')


def _learner_row(learner: dict[str, Any]) -> str:
    classes = " ".join(name for name, on in (("flagged", learner["flagged"]),
                                             ("ungraded", learner["earned"] is None)) if on)
    flag = ""
    if learner["flagged"]:
        paths = ", ".join(entry["path"] for entry in learner["ignored"])
        flag = f'<span class="flag" title="ignored: {escape(paths)}">⚑ flagged</span>'
    cells = [f'<td data-sort="{escape(learner["learner"])}">{escape(learner["learner"])}{flag}</td>',
             f'<td title="{escape(learner["reason"])}">{escape(learner["status"])}</td>']
    if learner["earned"] is None:
        cells += ['<td class="num" data-sort=""></td>', '<td class="num" data-sort=""></td>']
    else:
        cells += [f'<td class="num" data-sort="{learner["earned"]}">{learner["earned"]}/{learner["points"]}</td>',
                  f'<td class="num">{learner["percent"]:g}</td>' if learner["percent"] is not None
                  else '<td class="num"></td>']
    cells += [f'<td class="num">{"" if lab["earned"] is None else lab["earned"]}</td>' for lab in learner["labs"]]
    for check in learner["checks"]:
        if check["earned"] is None:
            cells.append('<td class="none" data-sort=""></td>' if check["outcome"] is None
                         else f'<td class="none" title="{escape(check["outcome"])}">–</td>')
        elif check["earned"] == check["points"]:
            cells.append(f'<td class="pass" data-sort="{check["earned"]}">✓</td>')
        else:
            why = check["failure"] or check["outcome"]
            cells.append(f'<td class="fail" data-sort="{check["earned"]}" title="{escape(why)}">✗</td>')
    return f'<tr class="{classes}">{"".join(cells)}</tr>' if classes else f'<tr>{"".join(cells)}</tr>'


def _foot_mean(values: list[int]) -> str:
    return f'<th class="num">{sum(values) / len(values):.1f}</th>' if values else '<th class="num">–</th>'


def _foot_rate(check: dict[str, Any]) -> str:
    rate = check["pass_rate"]
    return f'<th class="num">{"–" if rate is None else f"{rate * 100:.0f}%"}</th>'


def _flagged(book: dict[str, Any]) -> str:
    flagged = [x for x in book["learners"] if x["flagged"]]
    if not flagged:
        return ""
    items = "".join(
        f"<li><b>{escape(x['learner'])}</b>: "
        + "; ".join(f"<code>{escape(e['path'])}</code> {escape(e['why'])}" for e in x["ignored"]) + "</li>"
        for x in flagged)
    return ('<h2 id="flagged">Flagged</h2><p class="note">Learner files that were not used: outside labs/ and '
            "different from the kit, or links out of labs/. None of them ran: the grade used the kit's copies. "
            f"Worth a conversation.</p><ul>{items}</ul>")


def _not_graded(book: dict[str, Any]) -> str:
    missing = [x for x in book["learners"] if x["earned"] is None]
    if not missing:
        return ""
    items = "".join(f"<li><b>{escape(x['learner'])}</b> ({escape(x['status'])}): {escape(x['reason'])}</li>"
                    for x in missing)
    return f'<h2 id="not-graded">Not graded</h2><ul>{items}</ul>'
