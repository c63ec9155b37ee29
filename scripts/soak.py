#!/usr/bin/env python3
"""kill -9 soak: a steady stream of submissions and reports while the daemon is killed with
SIGKILL at random moments, many times; then a Jepsen-style count of what went in and what is
there: lost, duplicated, unexpected. Every third order goes to `bot`, a command agent the
daemon runs confined; each of its runs takes an flock on its one File, so a run of an order
while another run of it is alive marks the File (run-twice-at-once). With `--plans`, every
25th submission is a plan (SPEC §9) of three parts for bot, and each plan is counted too:
its request once, each part's order at most once (exactly once when the plan is answered), and
at most one answer. Not part of CI's default run.

    cargo build --release && python3 scripts/soak.py [--kills 1000] [--walt target/release/walt]
"""
import argparse, os, random, re, shutil, signal, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--kills", type=int, default=1000)
ap.add_argument("--walt", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "walt"))
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--plans", action="store_true", help="every 25th submission is a plan of three parts, run by bot")
args = ap.parse_args()
random.seed(args.seed)
walt = os.path.abspath(args.walt)
studio = tempfile.mkdtemp(prefix="walt-soak-")
subprocess.run([walt, "init", studio], check=True, stdout=subprocess.DEVNULL)
env = dict(os.environ, WALT_ROOT=studio)
BOT = os.path.join(os.path.dirname(studio), os.path.basename(studio) + "-bot.sh")
with open(BOT, "w") as f:
    f.write("""#!/bin/sh
m=$(sed -n 's/^[*][*]Objective:[*][*] The widget \\([^ ]*\\) is.*/\\1/p' "$WALT_ORDER_FILE")
exec 9>>"bot/$m.txt"
flock -n 9 || echo CONCURRENT >&9
echo "run $$" >&9
sleep 0.05
printf -- '---\\nre: %s\\nfrom: bot\\nstatus: done\\n---\\n**Outcome:** Polished.\\n\\n**Acceptance:**\\n- [x] `cargo test` passes\\n- [x] the widget shines in the demo\\n- [x] the changelog names %s\\n\\n**Touched:**\\n- repos/bot/%s.txt\\n\\n**Note:** none\\n' "$WALT_ORDER_ID" "$m" "$m" > "$WALT_REPORT_FILE"
""")
os.chmod(BOT, 0o755)
os.makedirs(os.path.join(studio, "repos/bot"), exist_ok=True)
with open(os.path.join(studio, "config/walt.toml"), "a") as f:
    f.write(f'\n[agents.bot]\nrole = "Polishes widgets, run by the daemon."\ncommand = ["{BOT}"]\ntimeout = "30s"\n')

ORDER = """---
to: chip
---
**Objective:** The widget {m} is polished.

**Acceptance:**
- `cargo test` passes
- the widget shines in the demo
- the changelog names {m}

**Files:**
- repos/app/src/{m}.rs

**Branching:**
- halt-with-note if the widget is gone
"""
REPORT = """---
re: {id}
from: chip
status: done
---
**Outcome:** Polished.

**Acceptance:**
- [x] `cargo test` passes
- [x] the widget shines in the demo
- [x] the changelog names {m}

**Touched:**
- repos/app/src/{m}.rs

**Note:** none
"""
PLAN = """---
priority: normal
---
**Goal:** The plan {m} is done.

**Acceptance:**
- `cargo test` passes
- the widget shines in the demo
- the changelog names {m}-a
""" + "".join("""
## Part: {p}
{after}
**Objective:** The widget {{m}}-{p} is polished.

**Acceptance:**
- `cargo test` passes
- the widget shines in the demo
- the changelog names {{m}}-{p}

**Files:**
- repos/bot/{{m}}-{p}.txt

**Branching:**
- halt-with-note if the widget is gone
""".format(p=p, after=a) for p, a in [("a", "to: bot\n"), ("b", "after: a\nto: bot\n"), ("c", "after: a\nto: bot\n")])
submitted = []
plans = []
stop = threading.Event()

def writer():
    i = 0
    while not stop.is_set():
        m = f"s{i:06d}"
        tmp = os.path.join(studio, "inbox/walt/tmp", m + ".md")
        text = ORDER.format(m=m)
        if args.plans and i % 25 == 24:
            text = PLAN.format(m=m)
        elif i % 3 == 2:
            text = text.replace("to: chip", "to: bot").replace(f"repos/app/src/{m}.rs", f"repos/bot/{m}.txt")
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(studio, "inbox/walt/new", m + ".md"))
        (plans if args.plans and i % 25 == 24 else submitted).append(m)
        i += 1
        time.sleep(0.01)

reported = 0
def reporter():
    global reported
    while not stop.is_set():
        out = subprocess.run([walt, "claim", "chip"], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            time.sleep(0.02)
            continue
        path = out.stdout.strip()
        oid = os.path.basename(path).split("-")[0]
        try:
            m = re.search(r"The widget (\S+) is", open(path).read()).group(1)
        except (OSError, AttributeError):
            continue
        rp = os.path.join(studio, f"report-{oid}.md")
        with open(rp, "w") as f:
            f.write(REPORT.format(id=oid, m=m))
        r = subprocess.run([walt, "report", oid, "--status", "done", rp], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print("report refused:", r.stderr.strip()[:300], flush=True)
        reported += 1

threads = [threading.Thread(target=writer), threading.Thread(target=reporter)]
for t in threads:
    t.start()
t0 = time.time()
for k in range(args.kills):
    d = subprocess.Popen([walt, "daemon"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(0.02, 0.45))
    d.send_signal(signal.SIGKILL)
    d.wait()
    if k % 100 == 99:
        print(f"{k + 1} kills, {len(submitted)} submitted, {reported} reports sent, {time.time() - t0:.0f}s", flush=True)
stop.set()
for t in threads:
    t.join()

# Let a last daemon finish what is there: everything routed, every report reviewed.
d = subprocess.Popen([walt, "daemon"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def quiet():
    return not os.listdir(os.path.join(studio, "inbox/walt/new"))
for _ in range(600):
    if quiet():
        break
    time.sleep(0.1)
time.sleep(1)
if args.plans:
    # Bot runs the plans' parts one at a time: give them time to be answered.
    for _ in range(3000):
        active = [n for n in os.listdir(os.path.join(studio, "inbox/walt/active")) if n.endswith(".md")]
        if not active:
            break
        time.sleep(0.1)
d.send_signal(signal.SIGTERM)
d.wait()

def markers(folders, pattern=lambda n: n.endswith(".md") and not n.endswith(".why.md")):
    seen = {}
    for folder in folders:
        p = os.path.join(studio, folder)
        for n in os.listdir(p):
            if not pattern(n):
                continue
            try:
                text = open(os.path.join(p, n), errors="replace").read()
            except OSError:
                continue
            mm = re.search(r"\*\*Objective:\*\* The widget (\S+) is", text)
            if mm:
                seen.setdefault(mm.group(1), []).append(f"{folder}/{n}")
    return seen

requests = markers(["inbox/walt/new", "inbox/walt/active", "inbox/walt/done", "inbox/walt/held"])
live = re.compile(r"^\d{4,}-[a-z0-9-]+\.md$")  # an order's current file, not an archived attempt
orders = markers(["inbox/chip/new", "inbox/chip/active", "inbox/chip/done", "inbox/bot/new", "inbox/bot/active", "inbox/bot/done", "inbox/human/new"], lambda n: bool(live.match(n)))
botdir = os.path.join(studio, "repos/bot")
concurrent = sorted(n for n in os.listdir(botdir) if "CONCURRENT" in open(os.path.join(botdir, n), errors="replace").read())
bot_runs = sum(open(os.path.join(botdir, n), errors="replace").read().count("run ") for n in os.listdir(botdir))
# Plans: each request once, each part at most once (exactly once once answered), one answer.
plan_bad = []
parts = {f"{m}-{p}" for m in plans for p in "abc"}
answered = 0
for m in plans:
    reqs = []
    for folder in ["inbox/walt/new", "inbox/walt/active", "inbox/walt/done", "inbox/walt/held"]:
        for n in os.listdir(os.path.join(studio, folder)):
            if n.endswith(".md") and not n.endswith((".why.md", ".answer.md")):
                try:
                    if f"**Goal:** The plan {m} is done." in open(os.path.join(studio, folder, n), errors="replace").read():
                        reqs.append(f"{folder}/{n}")
                except OSError:
                    pass
    if len(reqs) != 1:
        plan_bad.append((m, "requests", reqs))
        continue
    pid = os.path.basename(reqs[0]).split("-")[0]
    answers = [f"{f}/{n}" for f in ["inbox/walt/done", "inbox/human/new"] for n in os.listdir(os.path.join(studio, f))
               if n.startswith(pid + "-") and (n.endswith(".answer.md") or f == "inbox/human/new")]
    done = reqs[0].startswith("inbox/walt/done")
    if len(answers) > 1 or (done and len(answers) != 1):
        plan_bad.append((m, "answers", answers))
    answered += len(answers) == 1
    for p in "abc":
        where = orders.get(f"{m}-{p}", [])
        if len(where) > 1 or (done and len(where) != 1):
            plan_bad.append((m, p, where))
sub = set(submitted) | parts
lost = sorted(set(submitted) - set(requests))
duplicated = sorted(m for m, where in list(requests.items()) + list(orders.items()) if len(where) > 1)
unexpected = sorted((set(requests) | set(orders)) - sub - set(plans))
routed_lost = sorted(m for m in requests if m in set(submitted) and not any(w.startswith("inbox/walt/new") for w in requests[m]) and m not in orders)
held = [n for n in os.listdir(os.path.join(studio, "inbox/walt/held")) if not n.endswith(".why.md")]
whys = {}
for n in held:
    try:
        lines = open(os.path.join(studio, "inbox/walt/held", n + ".why.md")).read().splitlines()
        why = re.sub(r"\d{4,}", "N", lines[2] if len(lines) > 2 else "")
    except OSError:
        why = "(no note)"
    whys[why[:90]] = whys.get(why[:90], 0) + 1
lint = subprocess.run([walt, "lint"] + [os.path.join(studio, "inbox/chip/new", n) for n in os.listdir(os.path.join(studio, "inbox/chip/new")) if n.endswith(".md")] or ["/dev/null"], env=env, capture_output=True, text=True)
print(f"\nkills={args.kills} submitted={len(submitted)} reports_sent={reported} seconds={time.time() - t0:.0f}")
print(f"requests: {len(requests)}  orders: {len(orders)}  done: {len(os.listdir(os.path.join(studio, 'inbox/chip/done')))} files in chip/done  held: {len(held)}")
for why, n in sorted(whys.items(), key=lambda x: -x[1])[:5]:
    print(f"  held {n}: {why}")
print(f"bot (command agent): {bot_runs} runs over {len(os.listdir(botdir))} orders, {len(os.listdir(os.path.join(studio, 'inbox/bot/done')))} files in bot/done")
print(f"lost = {len(lost)}, duplicated = {len(duplicated)}, unexpected = {len(unexpected)}, routed-but-orderless = {len(routed_lost)}, run-twice-at-once = {len(concurrent)}")
if args.plans:
    print(f"plans: {len(plans)} submitted, {answered} answered, {len(plan_bad)} wrong")
    for b in plan_bad[:10]:
        print("  plan", b)
if lost or duplicated or unexpected or routed_lost or concurrent or plan_bad:
    print("lost:", lost[:10], "duplicated:", duplicated[:10], "unexpected:", unexpected[:10], "orderless:", routed_lost[:10], "concurrent:", concurrent[:10])
    print("studio kept at", studio)
    sys.exit(1)
if not os.environ.get("KEEP"): shutil.rmtree(studio)
else: print("studio kept at", studio)
print("ok")
