"""PNG chart of a results.json: `python chart.py results.json out.png` (run with the bench's tool venv)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import peers
from report import median, summarize
from scenarios import SCENARIOS


def _rps(runs, max_noise):
    clean = [r["rps"] for r in runs if r.get("noise") is not None and r["noise"] <= max_noise]
    return median(clean or [r["rps"] for r in runs])


def main(src, dst):
    with open(src) as f:
        data = json.load(f)
    cells_by_scenario = summarize(data["runs"])
    max_noise = data["config"].get("max_noise", 10)
    order = list(data["config"]["peers"])
    names = [n for n in data["config"]["scenarios"] if cells_by_scenario.get(n)]
    fig, axes = plt.subplots(len(names), 2, figsize=(13, 0.5 + 3.2 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        cells = cells_by_scenario[name]
        present = [p for p in order if p in cells and cells[p]["ok"]]
        labels = [peers.LABELS[p].replace(" `return 200`", "") for p in present]
        colors = ["tab:red" if p == "ours" else "tab:gray" if p == "nginx" else "tab:blue" for p in present]
        if SCENARIOS[name].kind == "rss":
            left = [median([r.get("rss_per_conn") for r in cells[p]["ok"]]) or 0 for p in present]
            right = [median([r.get("idle_held") for r in cells[p]["ok"]]) or 0 for p in present]
            titles = ("bytes of server RSS per idle connection", "connections held")
        else:
            left = [_rps(cells[p]["ok"], max_noise) for p in present]
            right = [median([r["cpu_us_per_req"] for r in cells[p]["ok"]]) or 0 for p in present]
            titles = ("requests/s (median of undisturbed runs, else all)", "server CPU µs per request (median)")
        for ax, values, title in zip(row, (left, right), titles):
            ax.barh(labels, values, color=colors)
            ax.invert_yaxis()
            ax.set_title(f"{name}: {title}", fontsize=10)
            ax.tick_params(labelsize=8)
            top = max(values) if values else 0
            for y, v in enumerate(values):
                ax.text(v + top * 0.01, y, f"{v:,.0f}" if v >= 100 else f"{v:.1f}", va="center", fontsize=7)
            ax.set_xlim(0, top * 1.15 if top else 1)
    fig.suptitle(f"fastwsgi bench ({data['machine'].get('CPU', '')}, server pinned to CPU 0)", fontsize=11)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
