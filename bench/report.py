"""The report of bench/run: benchmarks.md (machine, settings, every figure with its ratios, the issue's targets)
and benchmarks.png (gnuplot). Standard library only; used by bench.py."""
import os
import statistics
import subprocess

PATH_LABELS = {"direct": "direct", "ssh": "ssh -R", "diglett": "diglett", "haproxy": "HAProxy, one hop",
               "haproxy-tls": "HAProxy, two hops with TLS"}
# Scenarios 2 and 3's reference relays (bench.py's REFERENCE and TUNNEL_SHAPED).
REFERENCE, TUNNEL_SHAPED = "haproxy", "haproxy-tls"
REFERENCES = (REFERENCE, TUNNEL_SHAPED)
CLUSTER_PATHS = ("direct", "holder", "forwarding")  # scenario 8's paths (bench.py's CLUSTER_PATHS)
# Scenario 7 (HTTPS ingress): its peer, filed under the path "ssh", is Caddy in front of the ssh -R port.
HTTPS_PEER = "Caddy + ssh -R"


def path_label(key, path):
    return HTTPS_PEER if key.startswith("https_") and path == "ssh" else PATH_LABELS[path]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What follows this line in an existing benchmarks.md (a tuning log, findings) is kept when it is regenerated.
KEEP_MARKER = "<!-- Written by hand below this line: bench/run keeps it when it regenerates the page. -->"


def figures(settings):
    """(key, scenario, metric, unit, better) in table order."""
    c, many = settings["connections"], settings["many_connections"]
    rows = []
    for v in settings["variants"]:
        streams, _, direction = v.partition(" stream")
        direction = direction.lstrip("s ").strip()
        key = f"bulk_{streams}_{'down' if 'download' in direction else 'up'}"
        rows.append((key, "1. bulk (iperf3)", f"{streams} stream{'s' if streams != '1' else ''}, {direction}",
                     "Gbit/s", "higher"))
    rows += [
        ("c32_rps", f"2. HTTP, {c} conns", "requests/s", "req/s", "higher"),
        ("c32_p50", f"2. HTTP, {c} conns", "p50 latency", "ms", "lower"),
        ("c32_p99", f"2. HTTP, {c} conns", "p99 latency", "ms", "lower"),
        ("c32_errors", f"2. HTTP, {c} conns", "errors", "", "lower"),
        ("c1k_rps", f"3. HTTP, {many:,} conns", "requests/s", "req/s", "higher"),
        ("c1k_p50", f"3. HTTP, {many:,} conns", "p50 latency", "ms", "lower"),
        ("c1k_p99", f"3. HTTP, {many:,} conns", "p99 latency", "ms", "lower"),
        ("c1k_errors", f"3. HTTP, {many:,} conns", "errors (socket errors + non-2xx)", "", "lower"),
        ("load_p50", "4. under bulk load", f"small-request p50 ({c} conns)", "ms", "lower"),
        ("load_p99", "4. under bulk load", f"small-request p99 ({c} conns)", "ms", "lower"),
        ("load_rps", "4. under bulk load", "small requests/s", "req/s", "higher"),
        ("load_bulk", "4. under bulk load", "the large download alongside", "Gbit/s", "higher"),
        ("rss_server_idle", "5. memory (RSS)", "gateway / sshd session, idle", "MB", "lower"),
        ("rss_client_idle", "5. memory (RSS)", "agent / ssh client, idle", "MB", "lower"),
        ("rss_server_1k", "5. memory (RSS)", f"gateway / sshd session, peak at {many:,} conns", "MB", "lower"),
        ("rss_client_1k", "5. memory (RSS)", f"agent / ssh client, peak at {many:,} conns", "MB", "lower"),
        ("rss_server_after", "5. memory (RSS)", "gateway / sshd session, idle after the run", "MB", "lower"),
        ("rss_client_after", "5. memory (RSS)", "agent / ssh client, idle after the run", "MB", "lower"),
        ("startup", "6. start-up", "start of agent / ssh to first request", "s", "lower"),
    ]
    if settings.get("startup_first"):  # results before it have none
        rows.append(("startup_first", "6. start-up", "the same, first connection to the gateway / sshd", "s", "lower"))
    if "https_connections" in settings:  # results before scenario 7 have none
        https = f"7. HTTPS ingress, {settings['https_connections']:,} conns (peer: {HTTPS_PEER})"
        rows += [
            ("https_rps", https, "requests/s", "req/s", "higher"),
            ("https_p50", https, "p50 latency", "ms", "lower"),
            ("https_p99", https, "p99 latency", "ms", "lower"),
            ("https_errors", https, "errors (socket errors + non-2xx)", "", "lower"),
        ]
    return rows


def fmt_num(v):
    if v is None:
        return "failed"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 100:
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def per_run_ratio(doc, key, num, den, key_den=None):
    """Median over runs of (key on path num) / (key_den on path den), each ratio taken within one run."""
    ratios = []
    for fig in doc["runs"]:
        a = fig.get(key, {}).get(num)
        b = fig.get(key_den or key, {}).get(den)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
            ratios.append(a / b)
    return statistics.median(ratios) if ratios else None


def fmt_ratio(r):
    if r is None:
        return "—"
    if r >= 10:
        return f"{r:.0f}×"
    return f"{r:.2f}×"


def p99_row(doc, key_den, key_num, path_den, path_num, limit, target):
    """A latency target row: diglett's figure key_num (on path_num) over key_den (on path_den), the ratio taken
    within each run, at most limit."""
    med = doc["median"]
    r = per_run_ratio(doc, key_num, path_num, path_den, key_den=key_den)
    return (target, f"{fmt_ratio(r)} ({fmt_num(med.get(key_num, {}).get(path_num))} ms vs "
                    f"{fmt_num(med.get(key_den, {}).get(path_den))} ms)", r is not None and r <= limit)


def targets(doc):
    """The issue's targets: (target, measured, pass) rows."""
    med = doc["median"]
    s = doc["settings"]
    rows = []
    for key, scenario, metric, unit, _ in figures(s):
        if key.startswith("bulk_"):
            vs_ssh = per_run_ratio(doc, key, "diglett", "ssh")
            vs_direct = per_run_ratio(doc, key, "diglett", "direct")
            ok = vs_ssh is not None and vs_direct is not None and vs_ssh >= 1.5 and vs_direct >= 0.35
            rows.append((f"bulk, {metric}: ≥ 1.5× ssh -R and ≥ 35% of direct",
                         f"{fmt_ratio(vs_ssh)} ssh -R, {pct(vs_direct)} of direct", ok))
    r = per_run_ratio(doc, "c32_rps", "diglett", "ssh")
    rows.append((f"{s['connections']} conns: req/s ≥ 3× ssh -R", f"{fmt_ratio(r)}", r is not None and r >= 3))
    rows.append(p99_row(doc, "c32_p99", "c32_p99", "ssh", "diglett", 0.2,
                        f"{s['connections']} conns: p99 ≤ 1/5 of ssh -R's"))
    r = per_run_ratio(doc, "c1k_rps", "diglett", "ssh")
    rows.append((f"{s['many_connections']:,} conns: req/s ≥ ssh -R's", fmt_ratio(r), r is not None and r >= 1))
    errors = [fig.get("c1k_errors", {}).get("diglett") for fig in doc["runs"]]
    total = sum(e for e in errors if isinstance(e, int)) if all(isinstance(e, int) for e in errors) else None
    rows.append((f"{s['many_connections']:,} conns: zero errors (all runs)",
                 "failed" if total is None else f"{total:,} errors", total == 0))
    rows.append(p99_row(doc, "c32_p99", "load_p99", "diglett", "diglett", 3,
                        "under a saturating download: small-request p99 ≤ 3× diglett's idle p99"))
    for side, name in (("server", "gateway"), ("client", "agent")):
        v = med.get(f"rss_{side}_1k", {}).get("diglett")
        rows.append((f"{name} ≤ 150 MB resident at {s['many_connections']:,} conns",
                     f"{fmt_num(v)} MB", v is not None and v <= 150))
    v = med.get("startup", {}).get("diglett")
    rows.append(("first request within 1.5 s of starting the agent", f"{fmt_num(v)} s", v is not None and v <= 1.5))
    return rows


def targets_16(doc):
    """Issue 16's targets: (target, measured, pass) rows. Ratios are the median of the ratios within each run."""
    med = doc["median"]
    s = doc["settings"]
    rows = []
    rows.append(p99_row(doc, "c1k_p99", "c1k_p99", "ssh", "diglett", 0.5,
                        f"{s['many_connections']:,} conns: p99 ≤ 0.5× ssh -R's"))
    r = per_run_ratio(doc, "c1k_rps", "diglett", "direct")
    rows.append((f"{s['many_connections']:,} conns: req/s ≥ 0.75× direct", fmt_ratio(r), r is not None and r >= 0.75))
    rows.append(p99_row(doc, "c32_p99", "load_p99", "diglett", "diglett", 1.5,
                        "under a saturating download: small-request p99 ≤ 1.5× diglett's idle p99"))
    r = per_run_ratio(doc, "c32_rps", "diglett", "direct")
    rows.append((f"{s['connections']} conns: req/s ≥ 0.65× direct", fmt_ratio(r), r is not None and r >= 0.65))
    v = med.get("startup", {}).get("diglett")
    first = med.get("startup_first", {}).get("diglett")
    measured = f"{fmt_num(v)} s" + (
        f" (an agent restarted on a gateway that has served one; a new agent on a gateway just started: "
        f"{fmt_num(first)} s)" if s.get("startup_first_before") and first is not None else "")
    rows.append(("first request within 0.8 s of starting the agent", measured, v is not None and v <= 0.8))
    return rows


def hostile_figures(hs):
    """The hostile scenario's rows (key, scenario, metric, unit, better), in table order."""
    n, idle, many, c = hs["stalled"], hs["idle_sockets"], hs["hostile_connections"], hs["stall_conns"]
    stall = f"H1. {n:,} stalled readers"
    return [
        ("stall_idle_rps", stall, f"req/s, {c} conns, before (idle)", "req/s", "higher"),
        ("stall_rps", stall, f"req/s, {c} conns, beside the stalled clients", "req/s", "higher"),
        ("stall_idle_p99", stall, "p99 latency, before (idle)", "ms", "lower"),
        ("stall_p99", stall, "p99 latency, beside the stalled clients", "ms", "lower"),
        ("stall_errors", stall, "errors beside them (socket errors + non-2xx)", "", "lower"),
        ("stall_connected", stall, "stalled clients connected", "", "higher"),
        ("stall_answered", stall, "stalled clients with response bytes waiting at the end", "", "higher"),
        ("stall_dropped", stall, "stalled clients closed or reset by the server", "", "lower"),
        ("rss_server_stall", stall, "gateway / sshd session, peak RSS", "MB", "lower"),
        ("rss_client_stall", stall, "agent / ssh client, peak RSS", "MB", "lower"),
        ("stall_tcp_mem", stall, "kernel TCP memory, peak (machine-wide)", "MB", "lower"),
        ("stall_seconds", stall, "duration of the stall", "s", "lower"),
        ("stall_log_server", stall, "log lines: gateway / sshd / nginx error log", "", "lower"),
        ("stall_log_client", stall, "log lines: agent / ssh client", "", "lower"),
        ("stall_after_ok", stall, "the same port answers after they closed (1 = yes)", "", "higher"),
        ("idle_baseline", f"H2. {idle:,} idle sockets", "new agent / ssh -R: first request, no idle sockets", "s",
         "lower"),
        ("idle_register", f"H2. {idle:,} idle sockets", "first request, sockets from one address", "s", "lower"),
        ("idle_register_held", f"H2. {idle:,} idle sockets", "sockets held open meanwhile (median), one address",
         "", "higher"),
        ("idle_register_log_server", f"H2. {idle:,} idle sockets", "gateway / sshd log lines, one address", "",
         "lower"),
        ("idle_register_spread", f"H2. {idle:,} idle sockets", f"first request, one socket from each of {idle:,} "
         "addresses", "s", "lower"),
        ("idle_register_spread_held", f"H2. {idle:,} idle sockets", f"sockets held open meanwhile (median), "
         f"{idle:,} addresses", "", "higher"),
        ("idle_register_spread_log_server", f"H2. {idle:,} idle sockets", f"gateway / sshd log lines, {idle:,} "
         "addresses", "", "lower"),
        ("many_rps", f"H3. {many:,} conns, one tunnel", "requests/s", "req/s", "higher"),
        ("many_requests", f"H3. {many:,} conns, one tunnel", "answers", "", "higher"),
        ("many_errors", f"H3. {many:,} conns, one tunnel", "errors (socket errors + non-2xx)", "", "lower"),
        ("many_p99", f"H3. {many:,} conns, one tunnel", "p99 latency", "ms", "lower"),
        ("rss_server_many", f"H3. {many:,} conns, one tunnel", "gateway / sshd session, peak RSS", "MB", "lower"),
        ("rss_client_many", f"H3. {many:,} conns, one tunnel", "agent / ssh client, peak RSS", "MB", "lower"),
        ("many_log_server", f"H3. {many:,} conns, one tunnel", "log lines: gateway / sshd / nginx error log", "",
         "lower"),
        ("many_log_client", f"H3. {many:,} conns, one tunnel", "log lines: agent / ssh client", "", "lower"),
    ]


def per_run(h, fn):
    """Median over runs of fn(figures of one run), runs where it is None left out."""
    values = [v for v in (fn(fig) for fig in h["runs"]) if v is not None]
    return statistics.median(values) if values else None


def hostile_targets(h):
    """Issue 14's targets: (target, measured, pass) rows, each for diglett."""
    hs, med = h["settings"], h["median"]
    rows = []

    def share(path):
        return per_run_ratio(h, "stall_rps", path, path, key_den="stall_idle_rps")

    r = share("diglett")
    rows.append((f"beside {hs['stalled']:,} stalled readers, req/s ≥ 50% of the same path's idle req/s",
                 f"{pct(r)} (direct {pct(share('direct'))}, ssh -R {pct(share('ssh'))})", r is not None and r >= 0.5))
    for side, name in (("server", "gateway"), ("client", "agent")):
        v = med.get(f"rss_{side}_stall", {}).get("diglett")
        rows.append((f"{name} < 300 MB resident during the stall", f"{fmt_num(v)} MB", v is not None and v < 300))
    for side, name in (("server", "gateway"), ("client", "agent")):
        def rate(fig, side=side):
            lines, secs = fig.get(f"stall_log_{side}", {}).get("diglett"), fig.get("stall_seconds", {}).get("diglett")
            return lines / secs if isinstance(lines, int) and secs else None
        r = per_run(h, rate)
        lines = med.get(f"stall_log_{side}", {}).get("diglett")
        lines = int(lines) if isinstance(lines, float) and lines.is_integer() else lines
        rows.append((f"{name}: at most one log line a second during the stall",
                     f"{fmt_num(lines)} lines in {fmt_num(med.get('stall_seconds', {}).get('diglett'))} s",
                     r is not None and r <= 1))
    for key, where in (("idle_register", "from one address"),
                       ("idle_register_spread", f"one from each of {hs['idle_sockets']:,} addresses")):
        values = [fig.get(key, {}).get("diglett") for fig in h["runs"]]
        ok = bool(values) and all(isinstance(v, (int, float)) and v <= 2 for v in values)
        worst = "not within " + f"{hs['register_deadline_s']:g} s" if any(v is None for v in values) else \
            f"{fmt_num(max(values))} s" if values else "failed"
        rows.append((f"{hs['idle_sockets']:,} idle sockets at the agent port ({where}): a new agent registers "
                     "within 2 s (all runs)", f"slowest run: {worst}", ok))
    errors = [fig.get("many_errors", {}).get("diglett") for fig in h["runs"]]
    total = sum(errors) if errors and all(isinstance(e, int) for e in errors) else None
    rows.append((f"{hs['hostile_connections']:,} keep-alive conns through one tunnel: all answered, zero errors "
                 "(all runs)", "failed" if total is None else f"{total:,} errors", total == 0))
    for side, name in (("server", "gateway"), ("client", "agent")):
        v = med.get(f"rss_{side}_many", {}).get("diglett")
        rows.append((f"{name} ≤ 200 MB resident at {hs['hostile_connections']:,} conns", f"{fmt_num(v)} MB",
                     v is not None and v <= 200))
    return rows


def hostile_markdown(doc, w):
    h = doc.get("hostile")
    if not h or not h.get("runs"):
        return
    hs = h["settings"]
    w("## Hostile clients (issue 14)\n")
    w("Clients that misbehave, on purpose or not, on each path where the case applies, measured by "
      "`bench/run` (`bench/run --hostile` alone); the clients are `bench/hostile.py`.")
    if h.get("machine"):
        m = h["machine"]
        w(f"Measured {h['date']} at Diglett {m.get('diglett')} (`bench/run --hostile`), "
          f"{hs['runs']} run{'s' if hs['runs'] != 1 else ''}, median quoted; {m.get('busy_before', '')}."
          + (f" The whole run took {h['elapsed_s'] / 60:.1f} min." if h.get("elapsed_s") else "") + "\n")
    else:
        w(f"Measured in the same runs as the figures above ({hs['runs']} run{'s' if hs['runs'] != 1 else ''}, "
          "median quoted).\n")
    w("- Each case runs on fresh tunnels (gateway and agent, ssh -R: what one case leaves behind must not weigh "
      "on the next), the paths one after the other, the order rotating from run to run"
      + (f", after {hs['warmup_s']} s of wrk on each" if hs.get("warmup_s") else "") + "; "
      f"{hs['duration_s']} s per wrk measurement (`wrk --latency -t2 --timeout 5s`, the 1 KiB file).")
    w(f"- **H1, stalled readers**: {hs['stalled']:,} clients each send one `GET /big.bin` "
      f"({hs['big_file_bytes'] >> 20} MiB, a sparse file) with `SO_RCVBUF` {hs['stall_rcvbuf']:,} set before connecting, and never read. Once "
      "the kernel's TCP memory and the tunnel's RSS (both sides) grow less than 2% in a second (at most "
      f"{hs['stall_settle_s']:g} s), `wrk -c{hs['stall_conns']}` measures through the same path, against the "
      "same path's figure just before the stall. Peak RSS (every 100 ms) and log lines cover the stall from the "
      "first connect to 1 s after the clients closed. Kernel TCP memory is machine-wide (`/proc/net/sockstat`; "
      f"`tcp_mem` {' '.join(hs['tcp_mem'])} pages, `tcp_wmem` {' '.join(hs['tcp_wmem'])}).")
    w(f"- **H2, idle sockets at the agent port**: {hs['idle_sockets']:,} TCP connections to the gateway's agent "
      "port (sshd's port for ssh -R) that send nothing, from 127.0.0.2 or one from each of as many addresses "
      f"(127.1.x.y); one the server closes is opened again after {hs['idle_reopen_delay_s']:g} s. Meanwhile a "
      "new agent (`-n late=...`, its own JVM) is started, or a new `ssh -R` (started again at once whenever "
      "it exits), and the time to the first request through it is measured, up to "
      f"{hs['register_deadline_s']:g} s; the baseline is the same start on the fresh tunnels without idle "
      "sockets. sshd runs with `MaxStartups 100` and its per-source limit `PerSourceMaxStartups 10` (off by "
      "default). Direct has no agent port: not applicable.")
    w(f"- **H3, many connections**: `wrk -c{hs['hostile_connections']}` keep-alive connections through one "
      "tunnel (one agent, one ssh connection); RSS peak every 100 ms.\n")
    w("| scenario | figure | direct | ssh -R | diglett | diglett / direct | diglett / ssh -R |")
    w("|---|---|--:|--:|--:|--:|--:|")
    med = h["median"]
    for key, scenario, metric, unit, _ in hostile_figures(hs):
        vals = med.get(key, {})
        if not vals:
            continue
        cells = []
        for path in ("direct", "ssh", "diglett"):
            if path not in vals:
                cells.append("n/a" if key.startswith("idle_") and path == "direct" else "—")
            elif vals[path] is None and key.startswith("idle_register"):
                cells.append(f"> {hs['register_deadline_s']:g} s")
            elif vals[path] is None and key.endswith("_p99"):
                cells.append("no answer")
            else:
                v = vals[path]
                cells.append(fmt_num(int(v) if isinstance(v, float) and v.is_integer() else v))
        ratio = not any(x in key for x in ("_errors", "_connected", "_answered", "_dropped", "_log_", "_ok",
                                           "_held", "_seconds", "_requests"))
        r_direct = per_run_ratio(h, key, "diglett", "direct") if ratio and "direct" in vals else None
        r_ssh = per_run_ratio(h, key, "diglett", "ssh") if ratio and "ssh" in vals else None
        label = f"{metric} ({unit})" if unit else metric
        w(f"| {scenario} | {label} | {' | '.join(cells)} | {fmt_ratio(r_direct)} | {fmt_ratio(r_ssh)} |")
    w("")
    detail = [(i + 1, path, d) for i, det in enumerate(h.get("details", []))
              for path, d in det.get("many_errors", {}).items()]
    if detail:
        w(f"Errors at {hs['hostile_connections']:,} connections (wrk's socket errors; read: the connection was "
          "closed before a response): " + "; ".join(
            f"run {i}, {PATH_LABELS[p]}: " + ", ".join(f"{k} {v}" for k, v in d.items() if v)
            for i, p, d in detail) + ".\n")
    w("### Targets (issue 14)\n")
    w("| target | measured | |\n|---|---|---|")
    for target, measured, ok in hostile_targets(h):
        w(f"| {target} | {measured} | {'pass' if ok else '**fail**'} |")
    w("")
    if len(h["runs"]) > 1:
        w("### Every run, hostile clients\n")
        w("| figure | path | " + " | ".join(f"run {i + 1}" for i in range(len(h["runs"]))) + " |")
        w("|---|---|" + "--:|" * len(h["runs"]))
        for key, scenario, metric, unit, _ in hostile_figures(hs):
            for path in ("direct", "ssh", "diglett"):
                values = [fig.get(key, {}).get(path, "absent") for fig in h["runs"]]
                if all(v == "absent" for v in values):
                    continue
                w(f"| {scenario}: {metric} | {PATH_LABELS[path]} | "
                  + " | ".join("—" if v == "absent" else fmt_num(v) for v in values) + " |")
        w("")
    if h.get("warnings") and doc["runs"]:  # alone on its page, they are the page's warnings
        w("Warnings of the hostile run:\n")
        for warning in h["warnings"]:
            w(f"- {warning}")
        w("")


def pct(r):
    return "—" if r is None else f"{r * 100:.0f}%"


def write(doc, out_dir, gnuplot, json_path):
    os.makedirs(out_dir, exist_ok=True)  # bench/run --report JSON --out DIR: DIR may be new
    png = os.path.join(out_dir, "benchmarks.png")
    # No chart for the hostile section alone, nor for scenario 7 alone (bench/run --https-only).
    chart_ok = bool(doc["runs"]) and not doc["settings"].get("only") and chart(doc, out_dir, gnuplot, png)
    md = os.path.join(out_dir, "benchmarks.md")
    kept = ""
    if os.path.exists(md):
        with open(md) as f:
            old = f.read()
        if KEEP_MARKER in old:
            kept = old[old.index(KEEP_MARKER) + len(KEEP_MARKER):]
    with open(md, "w") as f:
        f.write(markdown(doc, chart_ok, json_path))
        f.write("\n" + KEEP_MARKER + (kept if kept.strip() else "\n"))
    return md


def markdown(doc, chart_ok, json_path):
    m, s, med = doc["machine"], doc["settings"], doc["median"]
    smoke = s["mode"] == "smoke"
    out = []
    w = out.append
    w("# Benchmarks\n")
    if s.get("only") == "https":
        w("**Scenario 7 alone** (`bench/run --https-only`): the HTTPS ingress and the start-up of the tunnels it "
          "needs; every other figure is missing.\n")
    if smoke:
        w("**Smoke run** (`bench/run --smoke`): short durations and fewer connections, and the HTTP scenarios "
          "measure the three paths at the same time, to keep the harness working in a few seconds. These figures "
          "are not meaningful.\n")
    w("Diglett against the physical limit (**direct**: the client talks to the backend itself) and the tunnel "
      "everyone already has (**ssh -R**: `ssh -tt -R` with a waiting remote command, through an sshd), all on loopback on one machine, measured "
      "interleaved in the same run by `bench/run` (see [bench/README.md](../bench/README.md)). Diglett runs "
      "with its defaults: TLS 1.3 on the agent link, the launchers' JVM options, "
      + (f"event loops on {s['transport']} (the best transport the kernel offers), " if s.get("transport") else "")
      + (f"the agent's links in one session carrying every connection ({s['agent_links_default']})."
         if s.get("agent_links_default") else "one agent link carrying every connection.")
      + (f" For HTTPS (scenario 7) the peer is the setup people use without Diglett: **{HTTPS_PEER}**, Caddy "
         "terminating TLS and proxying to the ssh -R port, against the gateway's built-in HTTPS ingress; its "
         "figures stand in the ssh -R column." if "https_connections" in s else "")
      + " Regenerate this page with `bench/run`.\n")
    w(f"Generated {m['date']}; {s['runs']} run{'s' if s['runs'] != 1 else ''}, median quoted; "
      f"the whole run took {s['elapsed_s'] / 60:.1f} min.\n")
    w("## Machine\n")
    w("| | |\n|---|---|")
    for label, key in (("CPU", "cpu"), ("cores", "cores"), ("memory", "memory"), ("OS", "os"),
                       ("kernel", "kernel"), ("Java", "java"), ("Diglett (git)", "diglett"), ("nginx", "nginx"),
                       ("iperf3", "iperf3"), ("wrk", "wrk"), ("OpenSSH", "openssh"), ("Caddy", "caddy"),
                       ("HAProxy", "haproxy"),
                       ("OpenSSL", "openssl"), ("etcd", "etcd"), ("gnuplot", "gnuplot"),
                       ("other load", "busy_before"), ("load average after", "load_after")):
        if key in ("caddy", "openssl", "etcd", "haproxy") and key not in m:  # results before scenario 7 or 8
            continue
        w(f"| {label} | {m.get(key, '')} |")
    shares = [entry["share"] for entry in doc.get("other_cpu", [])]
    if shares:
        busy = sum(1 for x in shares if x > 0.10)
        w(f"| other processes' CPU during the measurements | median {statistics.median(shares) * 100:.0f}%, "
          f"max {max(shares) * 100:.0f}% of the machine; {busy} of {len(shares)} measurements above 10% |")
    w("")

    def ending():
        if doc.get("warnings"):
            w("## Warnings\n")
            for warning in doc["warnings"]:
                w(f"- {warning}")
            w("")
        shown = os.path.relpath(json_path, ROOT)
        w(f"Raw results: `{json_path if shown.startswith('..') else shown}`.\n")
        return "\n".join(out)

    if not doc["runs"]:  # bench/run --hostile alone, without a published run to add its section to
        hostile_markdown(doc, w)
        return ending()
    w("## Settings\n")
    w(f"- Everything on 127.0.0.1: nginx ({s['small_file_bytes']:,}-byte `index.html`, "
      f"{s['large_file_bytes'] // 2 ** 20} MiB `large.bin`, keep-alive, access log off, `worker_processes auto`), "
      "`iperf3 -s`, an sshd with its own config and keys on a free port.")
    omit = s["iperf3_omit_s"] or 0
    if s.get("bulk_warmup_s"):
        bulk_warmup = f", then {s['bulk_warmup_s'] + omit} s of each iperf3 variant"
    else:  # results of the harness before 640b3c0: one 1 s upload
        bulk_warmup = f", then {1 + omit} s of one-stream upload"
    w(("- Each bulk figure is measured on the three paths one after the other and each HTTP figure on the three "
       "at the same time (smoke mode)" if smoke else
       "- Each figure is measured on the three paths one after the other within a run, the order rotating "
       "from run to run")
      + f"; {s['duration_s']} s per measurement"
      + (f", iperf3 omitting its first {omit} s (`-O`)" if omit else "")
      + (f", after a warm-up of each path ({s['warmup_s']} s of wrk"
         + (f" at {s['connections']} and then at {s['many_connections']:,} connections" if s.get("warmup_many")
            else "") + f"{bulk_warmup})" if s["warmup_s"] else "")
      + ".")
    w(f"- iperf3 `-P 1` and `-P 4`, upload (client to backend) and download (`-R`, backend to client): "
      f"{', '.join(s['variants'])}.")
    w(f"- wrk `--latency -t{s['wrk_threads']} --timeout 5s` on the small file, {s['connections']} and "
      f"{s['many_connections']:,} keep-alive connections; errors are wrk's socket errors (connect, read, write, "
      "timeout) plus non-2xx responses.")
    w(f"- Under bulk load: `wrk -c1` downloads `large.bin` in a loop through the same tunnel (the same ssh "
      f"connection, the same agent link) while `wrk -c{s['connections']}` measures the small file; the target "
      f"compares that p99 with the same path's p99 at {s['connections']} connections without the download.")
    w(f"- Memory: VmRSS from `/proc`, MB = 10^6 bytes. Server side: the gateway's JVM, or for ssh -R the sshd "
      "processes serving the session (privilege-separation monitor and session child, summed; not the listener). "
      f"Client side: the agent's JVM, or the `ssh` client. Idle: after start-up; peak: sampled every 100 ms "
      f"during the {s['many_connections']:,}-connection run."
      + (" The gateway has its HTTPS ingress on (for scenario 7): on this machine that added about 4 MB to its "
         "idle RSS (median of 4 starts each, 112 against 108 MB)." if "https_connections" in s else ""))
    w("- Start-up: from starting the agent (`bin/diglett`, a JVM) or `ssh -R` to the first successful request "
      "through the tunnel, the gateway or sshd already running and idle: each start is timed once the CPUs are "
      "at most 10% busy over 0.2 s ("
      + ("the gateway has just started when a run's first start, a first connection, is timed"
         if s.get("startup_first_before") else "the gateway has just started when the first of the two starts")
      + ", sshd has been idle since the harness started it); the client polls every 10 ms. Before the first "
      "run the harness starts the gateway and the agent twice, so that their launchers make the class-data "
      "sharing archives: the first start leaves a dynamic archive and its class list, the second maps it and "
      "makes from the list the static archive every later start maps (as a user's third start does)"
      + (f"; that very first start took {m['first_start_s']:.2f} s." if m.get("first_start_s") else ".")
      + (" The timed starts are returning clients: ssh has sshd's key in its known_hosts since the harness's first "
         "login, and the gateway listens for agents on the same port in every run, so the agent's known-gateways "
         "file holds its certificate's fingerprint from the starts before (without that the agent reads the "
         "system trust store first). The second start-up figure is a client that has never connected: a new "
         "known_hosts or known-gateways file, a second ssh -R or agent on the running sshd or gateway."
         + (" It is timed first in each run, so the agent is also the first agent of a gateway that has just "
            "started (its code for the handshake, login and registration not yet compiled; sshd forks a process "
            "per connection and has no such state); the returning start after it is an agent on a gateway that "
            "has served one, as a restart on a running gateway is." if s.get("startup_first_before") else "")
         if s.get("startup_first") else ""))
    w(f"- ssh: OpenSSH defaults (cipher `{s['ssh_cipher']}`), `-tt -R 127.0.0.1:0:127.0.0.1:PORT HOST 'exec sleep ...'`: "
      "with a terminal session sshd sets TCP_NODELAY on the connection, as for anyone who runs `ssh -R` and gets a "
      "shell; with `-N` only the client does, and Nagle on sshd's side held small responses for the client's "
      "delayed ACK (6k req/s at 32 connections, p99 44 ms, against 46k and 1.2 ms with the session). "
      + (f"Diglett: gateway `-l 127.0.0.1:0 --bind 127.0.0.1 --max-connections-per-ip 0` (all clients share "
         f"127.0.0.1) `--domain {s['https_domain']} --https 127.0.0.1:0 --https-cert FILE --https-key FILE` (the "
         "HTTPS ingress of scenario 7; with it on, a name has a raw port only if its agent asks), agent "
         "`--raw-port -n web=... -n iperf=...` (the raw ports every other scenario uses)"
         if "https_connections" in s else
         "Diglett: gateway `-l 127.0.0.1:0 --bind 127.0.0.1 --max-connections-per-ip 0` (all clients share "
         "127.0.0.1), agent `-n web=... -n iperf=...`")
      + "".join(f" `{a}`" for a in s.get("agent_args", [])[5:])
      + (f", `--links` at its default ({s['agent_links_default']})" if s.get("agent_links_default")
         and not any(a.startswith("--links") for a in s.get("agent_args", [])) else "")
      + f" with trust on first use, JVM options `{s['diglett_java_opts']}`.")
    if any(REFERENCE in med.get(key, {}) for key in ("c32_rps", "c1k_rps")):
        w(f"- The reference relays (scenarios 2 and 3), HAProxy (Debian's package) in `mode tcp` with its defaults "
          "(one thread per CPU) but timeouts (`connect 5s`, `client` and `server 60s`) and `maxconn` above the "
          "connection count, measured in the same rotation as the other paths: **one hop**, relaying to nginx (no "
          "encryption, no multiplexing: the least a relay adds), and **two hops with TLS**, a tunnel's shape: an "
          "entry HAProxy opens a TLS 1.3 connection (`ssl verify none`, AES-128-GCM first, as diglett's link) to "
          "an exit HAProxy in a second process (`bind ... ssl crt`, the harness's certificate) for each client "
          "connection, and the exit relays to nginx.")
    if "https_connections" in s:
        https_settings(doc, w)
    w(f"- Open files limit {s['open_files_limit']:,}. "
      + (f"Before each measurement the harness waited (up to {s['quiet_wait_s']:g} s) until processes outside "
         "it used less than 15% of the CPUs; what they used during each measurement is in the raw results."
         if s.get("quiet_wait_s") else "No waiting for other processes to calm down.") + "\n")
    if chart_ok:
        w("![Diglett, ssh -R and direct: throughput, requests/s, latency, memory, start-up](benchmarks.png)\n")
    w("## Results\n")
    w("Median of the runs. The ratio columns are the median of the ratios taken within each run (diglett's "
      "figure over the other path's); for latency, memory and time lower is better, so a ratio below 1× is "
      "diglett ahead.\n")
    w("| scenario | figure | direct | ssh -R | diglett | diglett / direct | diglett / ssh -R |")
    w("|---|---|--:|--:|--:|--:|--:|")
    for key, scenario, metric, unit, _ in figures(s):
        vals = med.get(key, {})
        if not vals and s.get("only"):  # a scenario measured alone: the others' rows would be empty
            continue
        cells = []
        for path in ("direct", "ssh", "diglett"):
            cells.append("—" if path not in vals else fmt_num(vals[path]))
        r_direct = per_run_ratio(doc, key, "diglett", "direct") if "direct" in vals else None
        r_ssh = per_run_ratio(doc, key, "diglett", "ssh") if "ssh" in vals else None
        if key.endswith("_errors"):
            r_direct = r_ssh = None
        label = f"{metric} ({unit})" if unit else metric
        w(f"| {scenario} | {label} | {' | '.join(cells)} | {fmt_ratio(r_direct)} | {fmt_ratio(r_ssh)} |")
    w("")
    reference_markdown(doc, w)
    detail = [(i + 1, path, fig["c1k_error_detail"][path]) for i, fig in enumerate(doc["runs"])
              for path in fig.get("c1k_error_detail", {})]
    if detail:
        w(f"Errors at {s['many_connections']:,} connections (wrk's socket errors; read: the connection was closed "
          "before a response): " + "; ".join(
            f"run {i}, {PATH_LABELS[p]}: " + ", ".join(f"{k} {v}" for k, v in d.items() if v)
            for i, p, d in detail) + ".\n")
    detail = [(i + 1, path, fig["https_error_detail"][path]) for i, fig in enumerate(doc["runs"])
              for path in fig.get("https_error_detail", {})]
    if detail:
        w(f"Errors in the HTTPS scenario (wrk's socket errors and non-2xx answers): " + "; ".join(
            f"run {i}, {path_label('https_', p)}: " + ", ".join(f"{k} {v}" for k, v in d.items() if v)
            for i, p, d in detail) + ".\n")
    if not s.get("only"):
        w("## Targets (issue 6)\n")
        w("| target | measured | |\n|---|---|---|")
        for target, measured, ok in targets(doc):
            w(f"| {target} | {measured} | {'pass' if ok else '**fail**'} |")
        w("")
    w("## Targets (issue 16)\n")
    w("Single-stream bulk throughput is to stay unchanged within noise: compare scenario 1 with the page before "
      "the change (the hand-written sections below have before/after figures).\n")
    w("| target | measured | |\n|---|---|---|")
    for target, measured, ok in targets_16(doc):
        w(f"| {target} | {measured} | {'pass' if ok else '**fail**'} |")
    w("")
    if len(doc["runs"]) > 1:
        w("## Every run\n")
        w("| figure | path | " + " | ".join(f"run {i + 1}" for i in range(len(doc["runs"]))) + " |")
        w("|---|---|" + "--:|" * len(doc["runs"]))
        for key, scenario, metric, unit, _ in figures(s):
            for path in ("direct", "ssh", "diglett") + REFERENCES:
                values = [fig.get(key, {}).get(path, "absent") for fig in doc["runs"]]
                if all(v == "absent" for v in values):
                    continue
                w(f"| {scenario}: {metric} | {path_label(key, path)} | "
                  + " | ".join("—" if v == "absent" else fmt_num(v) for v in values) + " |")
        w("")
    if doc.get("cluster"):
        out.extend(cluster_markdown(doc))
        w("")
    hostile_markdown(doc, w)
    return ending()


def reference_markdown(doc, w):
    """Scenarios 2 and 3 beside the reference relays (HAProxy: one hop; two hops with TLS): what a relay costs at
    the least on this machine, and what a tunnel's shape costs when a mature relay makes it."""
    med, s = doc["median"], doc["settings"]
    rows = [("c32_rps", f"2. HTTP, {s['connections']} conns", "requests/s", "req/s"),
            ("c32_p50", f"2. HTTP, {s['connections']} conns", "p50 latency", "ms"),
            ("c32_p99", f"2. HTTP, {s['connections']} conns", "p99 latency", "ms"),
            ("c1k_rps", f"3. HTTP, {s['many_connections']:,} conns", "requests/s", "req/s"),
            ("c1k_p50", f"3. HTTP, {s['many_connections']:,} conns", "p50 latency", "ms"),
            ("c1k_p99", f"3. HTTP, {s['many_connections']:,} conns", "p99 latency", "ms"),
            ("c1k_errors", f"3. HTTP, {s['many_connections']:,} conns", "errors (socket errors + non-2xx)", "")]
    if not any(REFERENCE in med.get(key, {}) for key, *_ in rows):
        return
    present = tuple(r for r in REFERENCES if any(r in med.get(key, {}) for key, *_ in rows))
    paths = ("direct",) + present + ("diglett",)
    ratios = [(r, "direct") for r in present] + [("diglett", "direct")] + [("diglett", present[-1])]
    short = {"direct": "direct", REFERENCE: "one hop", TUNNEL_SHAPED: "two hops + TLS", "diglett": "diglett"}
    w("### Beside HAProxy (scenarios 2 and 3)\n")
    w("The same wrk runs through HAProxy. **One hop**: HAProxy relaying TCP to nginx, no encryption, no "
      "multiplexing: the least a relay adds to direct on this machine (its four socket calls per request, and the "
      "kernel's TCP work for each, share the CPUs with wrk and nginx). "
      + ("**Two hops + TLS**: a tunnel's shape made of HAProxy, an entry and an exit process with TLS 1.3 between "
         "them, one TLS connection per client connection. Diglett has that shape too (gateway and agent), with "
         "one multiplexed link. " if TUNNEL_SHAPED in present else
         "Diglett has two hops (gateway and agent), TLS between them and one multiplexed link. ")
      + "Ratios as above, within each run.\n")
    w("| scenario | figure | " + " | ".join(PATH_LABELS[p] for p in paths) + " | "
      + " | ".join(f"{short[a]} / {short[b]}" for a, b in ratios) + " |")
    w("|---|---|" + "--:|" * (len(paths) + len(ratios)))
    for key, scenario, metric, unit in rows:
        vals = med.get(key, {})
        cells = ["—" if path not in vals else fmt_num(vals[path]) for path in paths]
        cells += ["—" if key.endswith("_errors") else fmt_ratio(per_run_ratio(doc, key, a, b)) for a, b in ratios]
        label = f"{metric} ({unit})" if unit else metric
        w(f"| {scenario} | {label} | {' | '.join(cells)} |")
    w("")


CLUSTER_LABELS = {"direct": "direct", "holder": "holder node", "forwarding": "forwarding node"}


def cluster_figures(cs):
    """Scenario 8's rows (key, metric, unit), in table order."""
    return [
        ("cluster_rps", f"requests/s ({cs.get('connections', 32)} conns)", "req/s"),
        ("cluster_p50", "p50 latency", "ms"),
        ("cluster_p99", "p99 latency", "ms"),
        ("cluster_errors", "errors (socket errors + non-2xx)", ""),
        ("cluster_down", "download, 1 stream, iperf3 -R", "Gbit/s"),
    ]


def cluster_target(c):
    """Issue 18's target: (target, measured, pass), the ratio the median of the ratios within each run."""
    target = (c.get("settings") or {}).get("target_ratio", 0.75)
    r = per_run_ratio(c, "cluster_rps", "forwarding", "holder")
    rps = c["median"].get("cluster_rps", {})
    return (f"cluster: through a forwarding node, req/s ≥ {target:g}× the holder's (forwarding costs at most "
            f"{(1 - target) * 100:.0f}%)",
            f"{fmt_ratio(r)} ({fmt_num(rps.get('forwarding'))} vs {fmt_num(rps.get('holder'))} req/s)",
            r is not None and r >= target)


def cluster_markdown(doc, alone=False):
    """Scenario 8 (issue 18): through the holder node and through a forwarding node, beside direct; the lines of
    its section (alone: the page of bench/run --cluster-only, with the machine and the date)."""
    c = doc["cluster"]
    cs = c.get("settings") or {}
    med = c["median"]
    runs = len(c["runs"])
    lines = []
    if alone:
        m = doc["machine"]
        lines += ["# Benchmarks: scenario 8 alone (`bench/run --cluster-only`)\n",
                  f"Generated {m.get('date')} at Diglett {m.get('diglett')}; {m.get('cpu')}, {m.get('cores')} cores, "
                  f"kernel {m.get('kernel')}, {m.get('java')}, {m.get('etcd', 'etcd')}; {m.get('busy_before', '')}."
                  + (" **Smoke run**: short durations, figures not meaningful." if doc["settings"]["mode"] == "smoke"
                     else "") + "\n"]
    warmup = cs.get("warmup_s")
    hosts = cs.get("hosts") or {}
    lines += [
        "## 8. Cluster: holder vs forwarding node\n",
        f"Cluster mode (issue 18, docs/cluster.md), on loopback: one etcd member (its data on /dev/shm) and two "
        f"gateway nodes, the **holder** on {hosts.get('holder', '127.0.0.2')} (the agent is connected to it) and a "
        f"**forwarding** node on {hosts.get('forwarding', '127.0.0.3')}, sharing a state directory (every node of a "
        "cluster presents the same certificate to agents), the cluster secret, "
        + (f"`--port-range {cs['port_range']}` " if cs.get("port_range") else "one `--port-range` ")
        + "and `--max-connections-per-ip 0`, TLS on and otherwise their defaults; one agent (its defaults, trust on "
        "first use) connected to the holder registers `web` (nginx) and `iperf` (iperf3 -s). Without `--domain` "
        "every name gets a raw port, the same port on every node: the holder serves it through its agent link, "
        "the forwarding node carries each connection to the holder as a stream of a node link (one multiplexed "
        "TCP connection per name and event loop of the node). "
        f"**direct** is the client talking to nginx or iperf3 itself, the limit on this machine. wrk `--latency "
        f"-t{cs.get('wrk_threads', 2)} -c{cs.get('connections', 32)} --timeout 5s` on the "
        f"{cs.get('small_file_bytes', 1024):,}-byte file; iperf3 `-P 1 -R` (backend to client)"
        + (f", its first {cs['iperf3_omit_s']} s omitted" if cs.get("iperf3_omit_s") else "")
        + f"; {cs.get('duration_s', '?')} s per measurement, the three paths one after the other, the order "
        "rotating from run to run"
        + (f", after a warm-up of each path ({warmup} s of wrk, "
           f"{(cs.get('bulk_warmup_s') or 0) + (cs.get('iperf3_omit_s') or 0)} s of iperf3: the nodes are fresh "
           "JVMs, and their JIT compiles for the first traffic)" if warmup else "")
        + f". Median of {runs} run{'s' if runs != 1 else ''}; the ratio is the median of the ratios taken within "
        "each run (forwarding's figure over the holder's; for latency lower is better).\n",
        "| figure | direct | holder node | forwarding node | forwarding / holder |",
        "|---|--:|--:|--:|--:|"]
    for key, metric, unit in cluster_figures(cs):
        row = med.get(key, {})
        cells = " | ".join("—" if path not in row else fmt_num(row[path]) for path in CLUSTER_PATHS)
        r = None if key.endswith("_errors") else per_run_ratio(c, key, "forwarding", "holder")
        label = f"{metric} ({unit})" if unit and unit != "req/s" else metric
        lines.append(f"| {label} | {cells} | {fmt_ratio(r)} |")
    lines.append("")
    detail = [(i + 1, path, fig["cluster_error_detail"][path]) for i, fig in enumerate(c["runs"])
              for path in fig.get("cluster_error_detail", {})]
    if detail:
        lines.append("Errors (wrk's socket errors and non-2xx answers): " + "; ".join(
            f"run {i}, {CLUSTER_LABELS[p]}: " + ", ".join(f"{k} {v}" for k, v in d.items() if v)
            for i, p, d in detail) + ".\n")
    target, measured, ok = cluster_target(c)
    lines += ["| target (issue 18) | measured | |", "|---|---|---|",
              f"| {target} | {measured} | {'pass' if ok else '**fail**'} |", ""]
    if runs > 1:
        lines += ["| figure | path | " + " | ".join(f"run {i + 1}" for i in range(runs)) + " |",
                  "|---|---|" + "--:|" * runs]
        for key, metric, unit in cluster_figures(cs):
            for path in CLUSTER_PATHS:
                values = [fig.get(key, {}).get(path, "absent") for fig in c["runs"]]
                if all(v == "absent" for v in values):
                    continue
                lines.append(f"| {metric} | {CLUSTER_LABELS[path]} | "
                             + " | ".join("—" if v == "absent" else fmt_num(v) for v in values) + " |")
        lines.append("")
    if alone and doc.get("warnings"):
        lines.append("Warnings:\n")
        lines += [f"- {warning}" for warning in doc["warnings"]]
        lines.append("")
    return lines


def https_settings(doc, w):
    """Scenario 7's settings bullet, with the peer's exact setup (Caddy's config as used)."""
    m, s = doc["machine"], doc["settings"]
    tls = s.get("https_tls") or {}
    w(f"- HTTPS ingress (scenario 7): `wrk --latency -t2 -c{s['https_connections']} --timeout 5s {s['https_url']}`, "
      "keep-alive, the small file"
      + (f", after {s['warmup_s']} s of the same on each path" if s.get("warmup_s") else "")
      + f"; wrk sends `web.{s['https_domain']}` as the TLS server name and as Host, and it resolves to 127.0.0.1 "
      f"through {s.get('https_resolve') or 'a hosts file'}. One certificate serves the three paths: {s['https_cert']}, "
      "made at the harness's start; wrk does not verify it. "
      f"**direct**: the same nginx serving the files over HTTPS itself (`{s['https_nginx']}`), the limit of an "
      f"HTTPS server on this machine. **{HTTPS_PEER}**, in the ssh -R column: Caddy {m.get('caddy', '')} (Debian "
      "package `caddy`) terminating TLS and reverse-proxying to this run's `ssh -tt -R` remote port for nginx (the "
      "ssh session of every other ssh -R figure), its config, data and home (`HOME`, `XDG_CONFIG_HOME`, "
      "`XDG_DATA_HOME`) in the harness's temp dir, no admin endpoint, no ACME, no port-80 redirect listener. "
      "Otherwise Caddy's defaults (keep-alive to the upstream, no access log, HTTP/1.1, 2 and 3) but one: "
      "`keepalive_idle_conns_per_host 1024`, since at its default of 32 idle upstream connections 100 clients made "
      "it close and reopen upstream connections all the time, through ssh -R a new channel each (7.0k req/s with "
      "p99 54 ms, against 9.9k and 30 ms with 1024, on this machine). **diglett**: "
      f"the gateway's built-in HTTPS ingress routing `web.{s['https_domain']}` through the agent link to nginx. "
      + ("TLS as an OpenSSL client (Python's `ssl`) negotiated it: "
         + ", ".join(f"{path_label('https_', p)} {tls[p]}" for p in ("direct", "ssh", "diglett") if p in tls) + ". "
         if tls else "")
      + "Caddy's config as used (the ports are free ones, new each run; `$WORK` is the temp dir):")
    w("  ```")
    for line in s["caddy_config"].rstrip("\n").split("\n"):
        w(f"  {line}" if line else "")
    w("  ```")


def chart(doc, out_dir, gnuplot, png):
    """Six panels of clustered bars (direct, ssh -R, diglett); False if gnuplot failed."""
    med, s = doc["median"], doc["settings"]
    data_dir = os.path.join(out_dir, ".chart")
    os.makedirs(data_dir, exist_ok=True)

    def table(name, rows, paths=("direct", "ssh", "diglett"), scale=1.0):
        path = os.path.join(data_dir, name)
        with open(path, "w") as f:
            f.write("label " + " ".join(f'"{PATH_LABELS[p]}"' for p in paths) + "\n")
            for label, key in rows:
                vals = []
                for p in paths:
                    v = med.get(key, {}).get(p)
                    vals.append("-" if v is None else f"{v * scale:.6g}")
                f.write(f'"{label}" ' + " ".join(vals) + "\n")
        return path

    bulk_rows = [(key.replace("bulk_", "P").replace("_", " "), key)
                 for key, *_ in figures(s) if key.startswith("bulk_")]
    c, many = s["connections"], s["many_connections"]
    # Scenario 7 beside the plain HTTP ones, when the results have it; its ssh -R bar is Caddy + ssh -R.
    https = [(f"HTTPS {s['https_connections']}*", "https_")] if med.get("https_rps") else []
    http_panels = "2.-4., 7." if https else "2.-4."
    # With a fourth cluster the key inside a panel covers bars: on one line, above room left for it.
    http_key = "set key top center horizontal\nset offsets 0, 0, graph 0.12, 0" if https else "set key top right"
    files = {
        "bulk": table("bulk.dat", bulk_rows),
        "rps": table("rps.dat", [(f"{c} conns", "c32_rps"), (f"{many} conns", "c1k_rps"),
                                 (f"{c} + bulk", "load_rps")] + [(x, k + "rps") for x, k in https], scale=1e-3),
        "p50": table("p50.dat", [(f"{c} conns", "c32_p50"), (f"{many} conns", "c1k_p50"),
                                 (f"{c} + bulk", "load_p50")] + [(x, k + "p50") for x, k in https]),
        "p99": table("p99.dat", [(f"{c} conns", "c32_p99"), (f"{many} conns", "c1k_p99"),
                                 (f"{c} + bulk", "load_p99")] + [(x, k + "p99") for x, k in https]),
        "rss": table("rss.dat", [("server idle", "rss_server_idle"), (f"server {many}", "rss_server_1k"),
                                 ("client idle", "rss_client_idle"), (f"client {many}", "rss_client_1k")],
                     paths=("ssh", "diglett")),
        "startup": table("startup.dat", [("first request", "startup")], paths=("ssh", "diglett")),
    }
    title = "Diglett vs ssh -R vs direct" + (" (SMOKE RUN, not meaningful)" if s["mode"] == "smoke" else "") + \
        f" — {doc['machine']['cpu']}, {doc['machine']['cores']} cores, median of {s['runs']}"
    if https:  # a second line of the title (gnuplot reads \n in double quotes)
        title += (f"\\n{https[0][0]}: wrk over TLS, {s['https_connections']} conns; direct = nginx's own TLS, "
                  f"ssh -R bar = {HTTPS_PEER}, diglett = the gateway's HTTPS ingress")
    script = f"""
set terminal pngcairo size 1500,900 font "sans,10"
set output "{png}"
set datafile missing "-"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
set linetype 1 lc rgb "#9e9e9e"
set linetype 2 lc rgb "#e6862a"
set linetype 3 lc rgb "#2a7ab0"
set multiplot layout 2,3 title "{title}"
set title "1. bulk throughput, Gbit/s (iperf3 P streams, up/down; log scale)"
set logscale y
set yrange [*:*]
plot for [i=2:4] "{files['bulk']}" using i:xtic(1) title columnheader(i) lt i-1
set title "{http_panels} HTTP requests/s (thousands), small file"
{http_key}
unset logscale y
set yrange [0:*]
plot for [i=2:4] "{files['rps']}" using i:xtic(1) title columnheader(i) lt i-1
set title "{http_panels} p50 latency, ms (log scale)"
set logscale y
set yrange [*:*]
plot for [i=2:4] "{files['p50']}" using i:xtic(1) title columnheader(i) lt i-1
set title "{http_panels} p99 latency, ms (log scale)"
plot for [i=2:4] "{files['p99']}" using i:xtic(1) title columnheader(i) lt i-1
set key top right vertical
set offsets 0, 0, 0, 0
unset logscale y
set yrange [0:*]
set title "5. resident memory, MB (server: gateway / sshd; client: agent / ssh)"
plot for [i=2:3] "{files['rss']}" using i:xtic(1) title columnheader(i) lt i
set title "6. start of agent / ssh to first request, s"
plot for [i=2:3] "{files['startup']}" using i:xtic(1) title columnheader(i) lt i
unset multiplot
"""
    script_path = os.path.join(data_dir, "chart.gp")
    with open(script_path, "w") as f:
        f.write(script)
    result = subprocess.run([gnuplot, script_path], capture_output=True, text=True)
    ok = result.returncode == 0 and os.path.exists(png)
    if not ok:
        doc.setdefault("warnings", []).append("gnuplot failed: " + result.stderr[-500:])
    else:
        for name in os.listdir(data_dir):
            os.remove(os.path.join(data_dir, name))
        os.rmdir(data_dir)
    return ok


def summary(doc):
    lines = ["", "targets:"]
    rows = targets(doc) if doc["runs"] and not doc["settings"].get("only") else []
    if (doc.get("cluster") or {}).get("runs"):
        rows.append(cluster_target(doc["cluster"]))
    if (doc.get("hostile") or {}).get("runs"):
        rows += hostile_targets(doc["hostile"])
    for target, measured, ok in rows:
        lines.append(f"  {'PASS' if ok else 'FAIL'}  {target}: {measured}")
    return "\n".join(lines)
