//! `walt-bench`: throughput, latency and metering cost, measured in one run against baselines
//! run in the same process on the same filesystem, reported as ratios (this machine is shared
//! and noisy; absolute times drift, ratios much less).
//!
//! Usage: `cargo run --release --bin walt-bench -- [N] [DIR] [--big]`
//! (N orders in the burst, default 2000; DIR a folder on the filesystem to measure, default a
//! temporary folder under the current directory).
//!
//! What it measures:
//! - burst: N requests renamed into `inbox/walt/new/` at once; the real daemon takes them all
//!   (accepted durably) and routes them (order written, request moved, journal), timed to the
//!   last one; against a naive loop (per order: write+fsync, rename, fsync dir, journal line +
//!   fsync) and a batched loop (the same I/O with the syncs shared by the batch).
//! - latency: single requests dropped one at a time, drop-to-routed p50/p99.
//! - metering: Walt deciding N requests in process with tiktoken counting, and with a counter
//!   that costs nothing; the difference is what metering costs per routed order.
//! - intake while the brain thinks: hand-dropped orders' drop-to-accepted p50/p99 with the
//!   daemon idle and during a 30 s brain call, in the same run (the loop must not wait).
//! - submitting: orders delivered through one `walt mcp` session against one `walt submit`
//!   process each, interleaved.
//!
//! Every burst order has Files of its own, so reservations (no two orders in flight over one
//! file) are on and hold nothing back: the burst measures routing with them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "walt-bench/plans.rs"]
mod plans;

use walt::coord::meter::Counter;
use walt::coord::{Event, Walt};
use walt::model::order::OrderId;

fn request(i: usize) -> String {
    format!(
        "---\nto: chip\n---\n**Objective:** The widget b{i:06} is polished.\n\n**Acceptance:**\n- `cargo test -p widget` passes\n- the widget renders in the demo page\n- the changelog names b{i:06}\n\n**Files:**\n- repos/app/src/w{i:06}.rs\n\n**Branching:**\n- halt-with-note if the widget is gone\n- route-to-rex if the change needs an audit\n"
    )
}

fn walt_bin() -> PathBuf {
    let me = std::env::current_exe().expect("current exe");
    me.with_file_name("walt")
}

fn init_studio(dir: &Path) {
    let out = Command::new(walt_bin())
        .arg("init")
        .arg(dir)
        .output()
        .expect("walt init");
    assert!(
        out.status.success(),
        "walt init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A ceiling high enough that the burst is never held back: this measures the mailbox.
    let cfg = std::fs::read_to_string(dir.join("config/walt.toml")).unwrap();
    let cfg = cfg
        .replace("rotate_at = 6000", "rotate_at = 900000")
        .replace("ceiling = 7000", "ceiling = 1000000");
    std::fs::write(dir.join("config/walt.toml"), cfg).unwrap();
}

fn start_daemon(dir: &Path) -> Child {
    let child = Command::new(walt_bin())
        .arg("--root")
        .arg(dir)
        .arg("daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("walt daemon");
    let log = dir.join("state/logs/walt.jsonl");
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("daemon.started")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn stop(mut child: Child) {
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn fsync_dir(p: &Path) {
    std::fs::File::open(p).unwrap().sync_all().unwrap();
}

/// The floor: one durable step per order, each with its own syncs.
fn naive(dir: &Path, n: usize) -> Duration {
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    let mut journal = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("journal.jsonl"))
        .unwrap();
    let t = Instant::now();
    for i in 0..n {
        let tmp = dir.join(format!("tmp/{i}.md"));
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(request(i).as_bytes()).unwrap();
        f.sync_data().unwrap();
        std::fs::rename(&tmp, dir.join(format!("new/{i:06}.md"))).unwrap();
        fsync_dir(&dir.join("new"));
        writeln!(
            journal,
            "{{\"event\":\"delivery.accepted\",\"order\":\"{i:06}\"}}"
        )
        .unwrap();
        journal.sync_data().unwrap();
    }
    t.elapsed()
}

/// The same I/O with the syncs shared by the whole batch: the best a group commit can do.
fn batched(dir: &Path, n: usize) -> Duration {
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    let mut journal = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("journal.jsonl"))
        .unwrap();
    let t = Instant::now();
    for i in 0..n {
        std::fs::write(dir.join(format!("tmp/{i}.md")), request(i)).unwrap();
    }
    let d = std::fs::File::open(dir).unwrap();
    rustix::fs::syncfs(&d).unwrap();
    let mut lines = String::new();
    for i in 0..n {
        std::fs::rename(
            dir.join(format!("tmp/{i}.md")),
            dir.join(format!("new/{i:06}.md")),
        )
        .unwrap();
        lines.push_str(&format!(
            "{{\"event\":\"delivery.accepted\",\"order\":\"{i:06}\"}}\n"
        ));
    }
    fsync_dir(&dir.join("new"));
    fsync_dir(&dir.join("tmp"));
    journal.write_all(lines.as_bytes()).unwrap();
    journal.sync_data().unwrap();
    t.elapsed()
}

/// Stages N requests in tmp/ first, then renames them all into new/ as one burst; times the
/// daemon until every one is accepted, and until every one is routed.
fn burst(dir: &Path, n: usize) -> (Duration, Duration) {
    init_studio(dir);
    let child = start_daemon(dir);
    for i in 0..n {
        std::fs::write(dir.join(format!("inbox/walt/tmp/b{i}.md")), request(i)).unwrap();
    }
    let log = dir.join("state/logs/walt.jsonl");
    let t = Instant::now();
    for i in 0..n {
        std::fs::rename(
            dir.join(format!("inbox/walt/tmp/b{i}.md")),
            dir.join(format!("inbox/walt/new/b{i}.md")),
        )
        .unwrap();
    }
    let mut accepted = None;
    loop {
        if accepted.is_none() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.matches("\"delivery.accepted\"").count() >= n {
                accepted = Some(t.elapsed());
            }
        }
        if count(&dir.join("inbox/chip/new")) >= n {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "burst did not finish"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let routed = t.elapsed();
    stop(child);
    (accepted.unwrap_or(routed), routed)
}

fn latency(dir: &Path, samples: usize) -> Vec<Duration> {
    init_studio(dir);
    let child = start_daemon(dir);
    let mut out = Vec::new();
    for i in 0..samples {
        let tmp = dir.join(format!("inbox/walt/tmp/l{i}.md"));
        std::fs::write(&tmp, request(i)).unwrap();
        let before = count(&dir.join("inbox/chip/new"));
        let t = Instant::now();
        std::fs::rename(&tmp, dir.join(format!("inbox/walt/new/l{i}.md"))).unwrap();
        while count(&dir.join("inbox/chip/new")) == before {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "order {i} was not routed"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        out.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    stop(child);
    out.sort();
    out
}

/// Intake latency of orders dropped by hand into chip's inbox (drop to accepted), with the
/// daemon idle, or while the brain thinks about a request for 30 s: the loop must not wait.
fn intake_latency(dir: &Path, samples: usize, brain: bool) -> Vec<Duration> {
    init_studio(dir);
    if brain {
        let script = dir.join("slow-brain.sh");
        std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\nsleep 30\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = std::fs::read_to_string(dir.join("config/walt.toml")).unwrap();
        let cfg = cfg
            .replace("brain = \"rules\"", "brain = \"command\"")
            .replace(
                "command = [\"contrib/brain.sh\"]",
                &format!("command = [{:?}]", script.to_string_lossy()),
            )
            .replace("timeout = \"60s\"", "timeout = \"90s\"");
        std::fs::write(dir.join("config/walt.toml"), cfg).unwrap();
    }
    let child = start_daemon(dir);
    if brain {
        let tmp = dir.join("inbox/walt/tmp/think.md");
        std::fs::write(&tmp, request(999_999)).unwrap();
        std::fs::rename(&tmp, dir.join("inbox/walt/new/think.md")).unwrap();
        // Until the question is out: the brain's sandbox is running.
        let log = dir.join("state/logs/walt.jsonl");
        let t = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("delivery.accepted")
        {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the request was not taken"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut out = Vec::new();
    let began = Instant::now();
    for i in 0..samples {
        let tmp = dir.join(format!("inbox/chip/tmp/h{i}.md"));
        std::fs::write(&tmp, request(i)).unwrap();
        let dropped = dir.join(format!("inbox/chip/new/h{i}.md"));
        let t = Instant::now();
        std::fs::rename(&tmp, &dropped).unwrap();
        while dropped.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "order {i} was not taken"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        out.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    if brain {
        assert!(
            began.elapsed() < Duration::from_secs(28),
            "the samples outlasted the brain's call; fewer samples"
        );
    }
    stop(child);
    out.sort();
    out
}

struct Free;
impl Counter for Free {
    fn count(&self, _: &str) -> u32 {
        0
    }
}

/// Walt deciding N requests in process: with tiktoken, and with a counter that costs nothing.
fn metering(n: usize) -> (Duration, Duration) {
    let cfg = walt::format::config::parse(
        "[walt]\nrotate_at = 900000\nceiling = 1000000\n[agents.chip]\nowns = [\"repos/**/*.rs\"]\n[agents.rex]\n",
    )
    .unwrap();
    let texts: Vec<String> = (0..n).map(request).collect();
    let run = |counter: Box<dyn Counter + Send>| {
        let mut w = Walt::new(cfg.clone(), 1, counter);
        let t = Instant::now();
        for (i, text) in texts.iter().enumerate() {
            let id = OrderId(i as u64 + 1);
            std::hint::black_box(w.handle(Event::Request {
                id,
                name: format!("{id}-x.md"),
                text: text.clone(),
            }));
        }
        t.elapsed()
    };
    // Warm the tokenizer once so its one-time load is not billed to the orders.
    let tk = walt::daemon::tokens::Tiktoken::new(walt::format::config::Encoding::O200kBase);
    tk.count("warm up");
    let free = run(Box::new(Free));
    let metered = run(Box::new(tk));
    (metered, free)
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let plain: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = plain.first().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let base = plain
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let work = tempfile_dir(&base);
    println!("walt-bench: N = {n}, on {}", work.display());

    // Interleaved rounds, medians: the filesystem's state (recently freed inodes, the other
    // core's load) drifts, and each round puts the three side by side in the same conditions.
    let rounds = 3;
    let (mut nv, mut bt, mut ac, mut rt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        nv.push(naive(&work.join(format!("naive{r}")), n));
        bt.push(batched(&work.join(format!("batched{r}")), n));
        let (a, b) = burst(&work.join(format!("burst{r}")), n);
        ac.push(a);
        rt.push(b);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (naive_t, batched_t, accepted_t, routed_t) =
        (median(nv), median(bt), median(ac), median(rt));
    println!("\nburst of {n} orders (median of {rounds} interleaved rounds; compare the ratios):");
    println!(
        "  naive loop    {:>10.0} orders/s  ({:.3} s)",
        per_sec(n, naive_t),
        naive_t.as_secs_f64()
    );
    println!(
        "  batched loop  {:>10.0} orders/s  ({:.3} s)",
        per_sec(n, batched_t),
        batched_t.as_secs_f64()
    );
    println!(
        "  walt taken    {:>10.0} orders/s  ({:.3} s)  = {:.1}x naive, {:.2}x batched",
        per_sec(n, accepted_t),
        accepted_t.as_secs_f64(),
        naive_t.as_secs_f64() / accepted_t.as_secs_f64(),
        batched_t.as_secs_f64() / accepted_t.as_secs_f64()
    );
    println!(
        "  walt routed   {:>10.0} orders/s  ({:.3} s)  = {:.1}x naive, {:.2}x batched",
        per_sec(n, routed_t),
        routed_t.as_secs_f64(),
        naive_t.as_secs_f64() / routed_t.as_secs_f64(),
        batched_t.as_secs_f64() / routed_t.as_secs_f64()
    );

    let lat = latency(&work.join("latency"), 200);
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "\ndrop-to-routed latency of single orders ({} samples):",
        lat.len()
    );
    println!(
        "  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );

    let quiet = intake_latency(&work.join("intake-idle"), 200, false);
    let thinking = intake_latency(&work.join("intake-brain"), 200, true);
    let q = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    println!("\nintake latency of hand-dropped orders (200 samples each, drop to accepted):");
    for (what, v) in [
        ("daemon idle", &quiet),
        ("during a 30 s brain call", &thinking),
    ] {
        println!(
            "  {what:<26} p50 {:.2} ms   p99 {:.2} ms",
            q(v, 0.5).as_secs_f64() * 1e3,
            q(v, 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "  p99 during the brain call / idle = {:.2}x",
        q(&thinking, 0.99).as_secs_f64() / q(&quiet, 0.99).as_secs_f64()
    );

    let (metered, free) = metering(n);
    let meter_cost = metered.saturating_sub(free);
    println!("\nmetering ({n} decisions in process, tiktoken o200k_base):");
    println!(
        "  deciding with the meter   {:.1} µs/order",
        metered.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "  deciding, meter free      {:.1} µs/order",
        free.as_secs_f64() * 1e6 / n as f64
    );
    println!("  metering                  {:.1} µs/order = {:.1}% of deciding, {:.2}% of routing end to end", meter_cost.as_secs_f64() * 1e6 / n as f64, 100.0 * meter_cost.as_secs_f64() / metered.as_secs_f64(), 100.0 * (meter_cost.as_secs_f64() / n as f64) / (routed_t.as_secs_f64() / n as f64));
    // Submitting over MCP (one `walt mcp` session) against one `walt submit` process an order,
    // interleaved, both with no daemon (delivery alone is measured).
    let m = 200.min(n);
    let (mut mc, mut sp) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        mc.push(mcp_submits(&work.join(format!("mcp{r}")), m));
        sp.push(process_submits(&work.join(format!("proc{r}")), m));
    }
    let (mcp_t, proc_t) = (median(mc), median(sp));
    println!(
        "
submitting {m} orders (median of {rounds} interleaved rounds):"
    );
    println!(
        "  walt submit processes     {:>8.0} orders/s   (baseline)",
        per_sec(m, proc_t)
    );
    println!(
        "  MCP submit, one session   {:>8.0} orders/s   {:.2}x the processes",
        per_sec(m, mcp_t),
        proc_t.as_secs_f64() / mcp_t.as_secs_f64()
    );
    // A 20-part plan's answer after its last report, against one order's close.
    let (mut ans, mut one) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (a, o) = plans::answer_time(&work.join(format!("plan{r}")));
        ans.push(a);
        one.push(o);
    }
    let (answer_t, single_t) = (median(ans), median(one));
    println!(
        "
answering a 20-part plan (median of {rounds} rounds, the real daemon):"
    );
    println!(
        "  one order: report to order.done      {:>8.2} ms   (baseline)",
        single_t.as_secs_f64() * 1e3
    );
    println!(
        "  last report to plan.answered         {:>8.2} ms   {:.2}x the baseline",
        answer_t.as_secs_f64() * 1e3,
        answer_t.as_secs_f64() / single_t.as_secs_f64()
    );
    if args.iter().any(|a| a == "--big") {
        let (rss, took) = rss_in_flight(&work.join("rss"), 10_000);
        println!(
            "\nmemory: peak RSS {rss:.1} MiB with 10,000 orders in flight (routed in {:.1} s)",
            took.as_secs_f64()
        );
        let t = startup(&work.join("startup"), 100_000, 1_000_000);
        println!(
            "start-up: {:.2} s with 100,000 queued orders and a 1,000,000-line journal",
            t.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// `m` submits over one `walt mcp` session, speaking JSON-RPC lines on its stdio as an MCP
/// client does; timed from the first call to the last answer.
fn mcp_submits(dir: &Path, m: usize) -> Duration {
    init_studio(dir);
    let mut child = Command::new(walt_bin())
        .arg("--root")
        .arg(dir)
        .args(["mcp", "--agent", "chip"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("walt mcp");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    fn call(
        stdin: &mut std::process::ChildStdin,
        stdout: &mut std::io::BufReader<std::process::ChildStdout>,
        id: usize,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        use std::io::BufRead;
        let msg =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(stdin, "{msg}").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "walt mcp ended");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }
    call(
        &mut stdin,
        &mut stdout,
        0,
        "initialize",
        serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "walt-bench", "version": "0"}}),
    );
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let t = Instant::now();
    for i in 1..=m {
        let r = call(
            &mut stdin,
            &mut stdout,
            i,
            "tools/call",
            serde_json::json!({"name": "submit", "arguments": {"text": request(i)}}),
        );
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let took = t.elapsed();
    drop(stdin);
    let _ = child.wait();
    assert_eq!(
        std::fs::read_dir(dir.join("inbox/walt/new"))
            .unwrap()
            .count(),
        m
    );
    took
}

/// `m` submits, one `walt submit` process each.
fn process_submits(dir: &Path, m: usize) -> Duration {
    init_studio(dir);
    let files: Vec<PathBuf> = (1..=m)
        .map(|i| {
            let p = dir.join(format!("req{i}.md"));
            std::fs::write(&p, request(i)).unwrap();
            p
        })
        .collect();
    let t = Instant::now();
    for f in &files {
        let ok = Command::new(walt_bin())
            .arg("--root")
            .arg(dir)
            .arg("submit")
            .arg(f)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let took = t.elapsed();
    assert_eq!(
        std::fs::read_dir(dir.join("inbox/walt/new"))
            .unwrap()
            .count(),
        m
    );
    took
}

/// The daemon's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Peak RSS of the daemon holding `n` orders in flight (routed, unanswered).
fn rss_in_flight(dir: &Path, n: usize) -> (f64, Duration) {
    init_studio(dir);
    let child = start_daemon(dir);
    for i in 0..n {
        std::fs::write(dir.join(format!("inbox/walt/tmp/b{i}.md")), request(i)).unwrap();
    }
    let t = Instant::now();
    for i in 0..n {
        std::fs::rename(
            dir.join(format!("inbox/walt/tmp/b{i}.md")),
            dir.join(format!("inbox/walt/new/b{i}.md")),
        )
        .unwrap();
    }
    while count(&dir.join("inbox/chip/new")) < n {
        assert!(t.elapsed() < Duration::from_secs(600), "not all routed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t.elapsed();
    std::thread::sleep(Duration::from_millis(700)); // one more snapshot of the ledger
    let rss = peak_rss_mib(child.id());
    stop(child);
    (rss, took)
}

/// Start-up with `queued` orders waiting in a specialist's new/ and a journal of `lines`
/// records: time from exec to `daemon.started` (replay, reconcile, resume all done).
fn startup(dir: &Path, queued: usize, lines: usize) -> Duration {
    init_studio(dir);
    let mut journal =
        std::io::BufWriter::new(std::fs::File::create(dir.join("state/journal.jsonl")).unwrap());
    let mut written = 0;
    for i in 1..=queued {
        let name = format!("{:04}-the-widget-b{i:06}-is-polished.md", i);
        let body = request(i).replace(
            "---\nto: chip\n",
            &format!("---\nid: {i:04}\nfrom: walt\nto: chip\nattempt: 1\n"),
        );
        std::fs::write(dir.join("inbox/chip/new").join(&name), body).unwrap();
        writeln!(journal, r#"{{"ts":"2026-11-23T00:00:00.000Z","level":"info","event":"order.written","order":"{i:04}","agent":"chip","attempt":1,"path":"{name}","state":"new","kind":"order","objective":"The widget b{i:06} is polished."}}"#).unwrap();
        written += 1;
    }
    // The rest of the history: records about those orders, as a long life leaves.
    let mut i = 0;
    while written < lines {
        let id = i % queued.max(1) + 1;
        writeln!(journal, r#"{{"ts":"2026-11-23T00:00:00.000Z","level":"info","event":"meter.rotated","order":"{id:04}","generation":1,"hot_tokens":4000,"reason":"history"}}"#).unwrap();
        written += 1;
        i += 1;
    }
    drop(journal);
    let t = Instant::now();
    let child = start_daemon(dir);
    let took = t.elapsed();
    stop(child);
    took
}

fn tempfile_dir(base: &Path) -> PathBuf {
    let p = base.join(format!(".walt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    p
}
