# --- OpenAI Codex (`codex exec`), the parts a wrapper meets: its flags, the prompt from
# standard input with `-`, the git-repository check, its own bubblewrap sandbox (which cannot
# start inside another one), credentials in $CODEX_HOME (default ~/.codex)/auth.json or
# CODEX_API_KEY / OPENAI_API_KEY, the session rollout in sessions/YYYY/MM/DD/, the git it runs
# for the session's metadata, and the JSONL events of --json with `turn.completed` usage.
import json
import subprocess
import sys
import uuid
import datetime

VERSION = "0.130.0"


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("exec", "e"):
        fail("this stand-in runs `codex exec` only")
    args = args[1:]
    opts = {"json": False, "skip_git": False, "sandbox": "read-only", "cd": None, "last": None,
            "bypass": False}
    prompt = None
    valued = {"-s", "--sandbox", "-C", "--cd", "-m", "--model", "-c", "--config",
              "-o", "--output-last-message", "--color", "--add-dir", "--output-schema", "-p", "--profile"}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--json", "--experimental-json"):
            opts["json"] = True
        elif a == "--skip-git-repo-check":
            opts["skip_git"] = True
        elif a == "--full-auto":
            opts["sandbox"] = "workspace-write"
        elif a in ("--dangerously-bypass-approvals-and-sandbox", "--yolo"):
            opts["bypass"] = True
        elif a in valued:
            if i + 1 >= len(args):
                fail(f"error: a value is required for '{a} <VALUE>' but none was supplied", 2)
            v = args[i + 1]
            i += 1
            if a in ("-s", "--sandbox"):
                if v not in ("read-only", "workspace-write", "danger-full-access"):
                    fail(f"error: invalid value '{v}' for '--sandbox <SANDBOX_MODE>'", 2)
                opts["sandbox"] = v
            elif a in ("-C", "--cd"):
                opts["cd"] = v
            elif a in ("-o", "--output-last-message"):
                opts["last"] = v
        elif a == "-":
            prompt = None
        elif a.startswith("-"):
            fail(f"error: unexpected argument '{a}' found", 2)
        else:
            prompt = a
        i += 1
    home = os.environ.get("CODEX_HOME") or os.path.join(os.path.expanduser("~"), ".codex")
    if os.environ.get("CODEX_HOME") and not os.path.isdir(home):
        fail(f"Error finding codex home: {home} does not exist")
    if opts["cd"]:
        os.chdir(opts["cd"])
    if prompt is None:
        print("Reading prompt from stdin...", file=sys.stderr)
        prompt = sys.stdin.read()
        if not prompt.strip():
            fail("No prompt provided via stdin.")
    if not opts["skip_git"] and not opts["bypass"]:
        d = os.getcwd()
        while not os.path.exists(os.path.join(d, ".git")):
            if d == "/":
                fail("Not inside a trusted directory and --skip-git-repo-check was not specified.")
            d = os.path.dirname(d)
    logged_in = bool(os.environ.get("CODEX_API_KEY") or os.environ.get("OPENAI_API_KEY"))
    if not logged_in:
        try:
            with open(os.path.join(home, "auth.json")) as f:
                auth = json.load(f)
            logged_in = bool(auth.get("OPENAI_API_KEY") or (auth.get("tokens") or {}).get("access_token"))
        except (OSError, ValueError, AttributeError):
            logged_in = False
    if not logged_in:
        # The wording of this message is not verified against a real build.
        fail("Error: Not logged in. Run `codex login`, or set OPENAI_API_KEY.")
    if opts["sandbox"] != "danger-full-access" and not opts["bypass"]:
        # Commands run under bubblewrap; nested in another sandbox it cannot start.
        try:
            p = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--", "/bin/true"],
                               capture_output=True, text=True, timeout=10)
            ok, why = p.returncode == 0, p.stderr.strip()
        except OSError as e:
            ok, why = False, str(e)
        if not ok:
            fail(f"Error: sandbox error: failed to start bubblewrap: {why}")

    thread = str(uuid.uuid4())
    now = datetime.datetime.now()
    meta_git = {"commit_hash": (git("rev-parse", "HEAD") or "").strip() or None,
                "branch": (git("rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
                "repository_url": (git("remote", "get-url", "origin") or "").strip() or None}
    git("rev-parse", "--git-dir")
    sessions = os.path.join(home, "sessions", now.strftime("%Y"), now.strftime("%m"), now.strftime("%d"))
    try:
        os.makedirs(sessions, exist_ok=True)
        rollout = open(os.path.join(sessions, f"rollout-{now.strftime('%Y-%m-%dT%H-%M-%S')}-{thread}.jsonl"), "w")
    except OSError as e:
        fail(f"Error: failed to initialize rollout recorder: {e}")
    rollout.write(json.dumps({"timestamp": now.isoformat(), "type": "session_meta", "payload": {
        "id": thread, "cwd": os.getcwd(), "originator": "codex_exec", "cli_version": VERSION,
        "git": meta_git}}, separators=(",", ":")) + "\n")

    can_edit = opts["sandbox"] in ("workspace-write", "danger-full-access") or opts["bypass"]
    reply, edited = work(prompt, can_edit=can_edit)
    usage = {"input_tokens": tokens(prompt) + 9000, "cached_input_tokens": 8192,
             "output_tokens": tokens(reply), "reasoning_output_tokens": 64}
    events = [{"type": "thread.started", "thread_id": thread}, {"type": "turn.started"},
              {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Reading the work order**"}}]
    if edited:
        events.append({"type": "item.completed", "item": {
            "id": "item_1", "type": "file_change", "status": "completed",
            "changes": [{"path": os.path.abspath(e), "kind": "update"} for e in edited]}})
    events.append({"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": reply}})
    events.append({"type": "turn.completed", "usage": usage})
    for ev in events:
        rollout.write(json.dumps({"timestamp": now.isoformat(), "type": "event_msg", "payload": ev}, separators=(",", ":")) + "\n")
    rollout.close()
    if opts["last"]:
        with open(opts["last"], "w") as f:
            f.write(reply)
    if opts["json"]:
        for ev in events:
            print(json.dumps(ev, separators=(",", ":")))
    else:
        print(f"OpenAI Codex v{VERSION}\n--------\nworkdir: {os.getcwd()}\nmodel: gpt-5.5\n"
              f"provider: openai\napproval: never\nsandbox: {opts['sandbox']}\n"
              f"session id: {thread}\n--------\nuser\n{prompt}\ncodex\n{reply}\ntokens used\n"
              f"{usage['input_tokens'] + usage['output_tokens']:,}", file=sys.stderr)
        print(reply)
    return 0


sys.exit(main())
