"""RESULTS.md from the raw runs: medians per peer and scenario, ratios to peers of the same invocation."""
import statistics

import peers
from scenarios import SCENARIOS


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec=",.0f", none="—"):
    return none if v is None else format(v, spec)


def _ms(us):
    """Latency in ms; wrk reports 0 when it recorded no sample (pipelined: no batch of 16 completed on one
    connection, e.g. the server closed it mid-batch)."""
    return "—" if not us else f"{us / 1000:.2f}"


def _ratio(a, b):
    return None if a is None or not b else a / b


def summarize(runs):
    """{scenario: {peer: {"ok": [...], "failed": [...]}}} from the flat list of run records."""
    out = {}
    for rec in runs:
        cell = out.setdefault(rec["scenario"], {}).setdefault(rec["peer"], {"ok": [], "failed": []})
        (cell["failed"] if rec.get("error") else cell["ok"]).append(rec)
    return out


def _med(cell, key):
    return median([r.get(key) for r in cell["ok"]])


def _max(cell, key):
    values = [r[key] for r in cell["ok"] if r.get(key) is not None]
    return max(values) if values else None


def _busy(cell):
    """Median share of a core used by the server (and by wrk, when recorded) during the measured runs."""
    server = median([r["rps"] * r["cpu_us_per_req"] / 1e4 for r in cell["ok"] if r.get("cpu_us_per_req")])
    return f"{_fmt(server, '.0f')} / {_fmt(_med(cell, 'wrk_cpu_pct'), '.0f')}"


def _wrk_cost(cell):
    """Median wrk CPU µs per answer (runs recorded before the field existed: from wrk's busy % and req/s)."""
    return median([r.get("wrk_us_per_req") or (r["wrk_cpu_pct"] * 1e4 / r["rps"] if r.get("wrk_cpu_pct") and r["rps"]
                                               else None) for r in cell["ok"]])


def _clean(cell, max_noise):
    """Median req/s over the runs that other jobs did not disturb (noise <= max_noise), with their count."""
    clean = [r["rps"] for r in cell["ok"] if r.get("noise") is not None and r["noise"] <= max_noise]
    return f"{median(clean):,.0f} ({len(clean)})" if clean else "—"


def load_table(scenario, cells, order, max_noise):
    ref = "ours" if "ours" in cells and cells["ours"]["ok"] else None
    top = "nginx" if "nginx" in cells and cells["nginx"]["ok"] else None
    ref_rps, ref_cpu = (_med(cells[ref], "rps"), _med(cells[ref], "cpu_us_per_req")) if ref else (None, None)
    top_rps = _med(cells[top], "rps") if top else None
    head = ["server", "req/s (median)", "min–max", "req/s, undisturbed runs", "× ours", "% of nginx", "p50 ms",
            "p99 ms", "non-2xx", "socket errors", "server CPU µs/req", "CPU × ours", "server / wrk CPU busy %",
            "wrk CPU µs/req", "other jobs CPU 0/1 %", "runs"]
    if scenario.idle:
        head += ["idle held", "idle still open"]
    if scenario.kind == "soak":
        head += ["requests", "RSS start MB", "RSS end MB"]
    if scenario.app == "files" or scenario.app == "echo":
        head.insert(4, "MB/s")
    if scenario.server_threads > 1:
        head += ["processes × threads"] + (["thread ceiling req/s", "% of ceiling"] if scenario.block_s else [])
    rows = [head, ["---"] + ["---:"] * (len(head) - 1)]
    for peer in order:
        cell = cells.get(peer)
        if cell is None:
            continue
        if not cell["ok"]:
            row = [peers.LABELS[peer], "failed"] + [""] * (len(head) - 2)
            rows.append(row)
            continue
        rps_all = [r["rps"] for r in cell["ok"]]
        rps, cpu = _med(cell, "rps"), _med(cell, "cpu_us_per_req")
        row = [peers.LABELS[peer], _fmt(rps), f"{min(rps_all):,.0f}–{max(rps_all):,.0f}", _clean(cell, max_noise),
               _fmt(_ratio(rps, ref_rps), ".2f"), _fmt(_ratio(rps, top_rps) and 100 * _ratio(rps, top_rps), ".0f"),
               _ms(_med(cell, "p50_us")), _ms(_med(cell, "p99_us")),
               _fmt(sum(r["non2xx"] for r in cell["ok"]), ","),
               _fmt(sum(r["sock_errors"] for r in cell["ok"]), ","),
               _fmt(cpu, ".1f"), _fmt(_ratio(cpu, ref_cpu), ".2f"), _busy(cell), _fmt(_wrk_cost(cell), ".1f"),
               f"{_fmt(_max(cell, 'other_cpu0_pct'), '.0f')}/{_fmt(_max(cell, 'other_cpu1_pct'), '.0f')}",
               f"{len(cell['ok'])}/{len(cell['ok']) + len(cell['failed'])}"]
        if scenario.app in ("files", "echo"):
            row.insert(4, _fmt(_med(cell, "mbps"), ",.0f"))
        if scenario.idle:
            row += [_fmt(_med(cell, "idle_held"), ",.0f"), _fmt(_med(cell, "idle_open_after"), ",.0f")]
        if scenario.kind == "soak":
            row += [_fmt(_med(cell, "requests"), ",.0f"), _fmt(_med(cell, "rss_start") / 1e6, ".1f"),
                    _fmt(_med(cell, "rss_end") / 1e6, ".1f")]
        if scenario.server_threads > 1:
            row += _thread_cells(scenario, cell, rps)
        rows.append(row)
    return rows


def _slots(cell):
    """(processes, threads) the peer ran with (recorded per run), or None."""
    rec = cell["ok"][0] if cell["ok"] else None
    return (rec["procs"], rec["threads"]) if rec and "procs" in rec else None


def _thread_cells(scenario, cell, rps):
    """processes × threads, and for blocking apps the ceiling: app calls at once / mean seconds blocked."""
    slots = _slots(cell)
    out = [f"{slots[0]} × {slots[1]}" if slots else "—"]
    if scenario.block_s:
        ceiling = slots[0] * slots[1] / scenario.block_s if slots else None
        out += [_fmt(ceiling), _fmt(_ratio(rps, ceiling) and 100 * _ratio(rps, ceiling), ".0f")]
    return out


def _threads_note(scenario, cells):
    """Lines under a threaded scenario's table: how the CPUs are shared, and ours without --threads."""
    lines = [("Server and wrk (`-t2`) share CPUs 0 and 1 (no pinning is possible with 2 workers on 2 cores), so "
              "`server CPU busy %` is of one core (up to 200) and wrk's share is not separated out.")]
    if scenario.block_s:
        lines.append(f"`thread ceiling req/s` = processes × threads / {scenario.block_s * 1000:g} ms (the mean time an "
                     "app call blocks): the most any server with that many app threads can answer.")
    ours = _slots(cells["ours"]) if "ours" in cells else None
    if ours and ours[1] == 1:
        lines.append("**fastwsgi (ours) ran single-threaded (1 app thread per worker): its CLI has no `--threads` "
                     "yet (issue 12).**")
    if "waitress" in cells:
        lines.append("waitress has no worker processes: it runs as one process with 8 threads.")
    return lines


def _per_conn(cell):
    """Bytes per connection, only when (nearly) all connections were held and stayed open meanwhile."""
    target = SCENARIOS["rss10k"].idle
    held, still = _med(cell, "idle_held") or 0, _med(cell, "idle_open_after") or 0
    if held < 0.9 * target or still < 0.9 * held:
        return "— (server refused or closed connections)"
    return _fmt(_med(cell, "rss_per_conn"), ",.0f")


def rss_table(cells, order):
    head = ["server", "RSS before MB", "RSS with conns MB", "connections held", "still open after",
            "seconds to open", "bytes / connection", "runs"]
    rows = [head, ["---"] + ["---:"] * (len(head) - 1)]
    for peer in order:
        cell = cells.get(peer)
        if cell is None:
            continue
        if not cell["ok"]:
            rows.append([peers.LABELS[peer], "failed"] + [""] * (len(head) - 2))
            continue
        rows.append([peers.LABELS[peer], _fmt(_med(cell, "rss_start") / 1e6, ".1f"),
                     _fmt(_med(cell, "rss_end") / 1e6, ".1f"), _fmt(_med(cell, "idle_held"), ",.0f"),
                     _fmt(_med(cell, "idle_open_after"), ",.0f"), _fmt(_med(cell, "open_seconds"), ".1f"),
                     _per_conn(cell),
                     f"{len(cell['ok'])}/{len(cell['ok']) + len(cell['failed'])}"])
    return rows


def _md(rows):
    return "\n".join("| " + " | ".join(str(c) for c in row) + " |" for row in rows)


def render(data):
    """Markdown text of RESULTS.md from the dict written by run.py (results.json)."""
    cfg, facts = data["config"], data["machine"]
    cells_by_scenario = summarize(data["runs"])
    order = cfg["peers"]
    out = ["# Benchmark results", "",
           (f"Generated by `{cfg['argv']}` on {data['finished']} (UTC); "
            f"{cfg['runs']} runs of {cfg['duration']} s each per server and scenario (after a {cfg['warmup']} s "
            "warm-up), servers interleaved across rounds; medians shown. Ratios compare peers measured in this same "
            "invocation: `× ours` is the peer's value divided by ours, `% of nginx` relative to nginx `return 200`."
            " Server CPU µs/req = utime+stime (+ children's) of every server process from /proc/<pid>/stat, "
            "before/after the measured run, divided by the responses wrk counted. `other jobs CPU 0/1 %` (worst kept "
            "run): user+system time of CPU 0 not spent in the server and of CPU 1 not spent in wrk, i.e. other jobs "
            "on the machine; a run "
            f"above {data['config'].get('max_noise', '?')}% was measured again (at most "
            f"{data['config'].get('retries', '?')} times, keeping the least disturbed attempt); high values still "
            "mean a disturbed measurement; `req/s, undisturbed runs` is the median over the runs at or below that "
            "threshold (how many in parentheses). `server / wrk CPU busy %`: share of its core the server (and wrk) "
            "used during the run; a server well below 100 while wrk is not at 100 is waiting, not working. "
            "`wrk CPU µs/req`: wrk's own user+system time (from its rusage) per answer; one wrk thread cannot ask for "
            "more than 10^6 / that many req/s, so a server near that rate is measuring wrk, not itself. "
            "Server CPU µs/req is the number least sensitive to disturbance."),
           "", "## Machine", ""]
    if cfg.get("truncated"):
        out[3:3] = ["", "**Truncated: the --deadline passed before every run was made.**"]
    out += [f"- {k}: {v}" for k, v in facts.items()]
    out += ["", "## Peer versions", ""]
    out += [f"- {peers.LABELS[p]}: {v}" for p, v in data["versions"].items()]
    if data["skipped"]:
        out += ["", "## Skipped peers", ""]
        out += [f"- **{peers.LABELS.get(p, p)}**: {reason}" for p, reason in data["skipped"].items()]
    for name in cfg["scenarios"]:
        scenario = SCENARIOS[name]
        cells = cells_by_scenario.get(name, {})
        out += ["", f"## {name}: {scenario.title}", ""]
        if not cells:
            out.append("No runs.")
            continue
        if scenario.kind == "rss":
            out.append(_md(rss_table(cells, order)))
        else:
            out.append(_md(load_table(scenario, cells, order, cfg.get("max_noise", 10))))
            if scenario.server_threads > 1:
                out += ["", " ".join(_threads_note(scenario, cells))]
        na = [peers.LABELS[p] for p in order if p not in data["commands"].get(name, {})]
        if na:
            out += ["", f"Not applicable: {', '.join(na)}."]
        failures = [(p, r) for p, c in cells.items() for r in c["failed"]]
        if failures:
            out += ["", "Failed or unsupported runs:", ""]
            seen = set()
            for p, r in failures:
                key = (p, r["error"])
                if key not in seen:
                    seen.add(key)
                    out.append(f"- {peers.LABELS[p]}: {r['error']}")
    out += ["", "## Exact commands", "",
            (f"`$VENVS` = `{data['venvs']}`; the working directory is the repository root; PORT is a free "
             "ephemeral port picked per run. `bench/wrk/X.lua+done.lua` is X.lua with done.lua (the summary printer)"
             " appended. nginx's config is generated from `NGINX_CONF` in bench/peers.py."), ""]
    for name in cfg["scenarios"]:
        cmds = data["commands"].get(name, {})
        if not cmds:
            continue
        out += [f"### {name}", "", "```"]
        wrk_lines = set()
        for peer in order:
            if peer in cmds:
                out.append(f"# {peer}\n{cmds[peer][0]}")
                wrk_lines.add(cmds[peer][1])
        out += ["# load generator"] + sorted(wrk_lines) + ["```", ""]
    if data.get("chart"):
        out += [f"![chart]({data['chart']})", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    import json
    import sys

    with open(sys.argv[1]) as f:
        sys.stdout.write(render(json.load(f)))
