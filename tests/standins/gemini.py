# --- Gemini CLI (`gemini`), the parts a wrapper meets: -p (appended to standard input), its
# flags, folder trust (a headless run in an untrusted folder exits 55), auth from
# ~/.gemini/settings.json and oauth_creds.json or GEMINI_API_KEY (none: exit 41), the project
# registry and tmp/<project>/ state, `git rev-parse --show-toplevel`, and the JSON output
# with per-model token stats.
import json
import sys
import uuid
import datetime

VERSION = "0.56.0"


def main():
    args = sys.argv[1:]
    opts = {"prompt": None, "output": "text", "approval": "default", "skip_trust": False}
    positional = []
    valued = {"-p", "--prompt", "-o", "--output-format", "-m", "--model", "--approval-mode",
              "--include-directories", "-r", "--resume", "--session-id"}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-y", "--yolo"):
            opts["approval"] = "yolo"
        elif a == "--skip-trust":
            opts["skip_trust"] = True
        elif a in ("-s", "--sandbox", "-d", "--debug"):
            pass
        elif a in valued:
            if i + 1 >= len(args):
                fail(f"Not enough arguments following: {a.lstrip('-')}", 1)
            v = args[i + 1]
            i += 1
            if a in ("-p", "--prompt"):
                opts["prompt"] = v
            elif a in ("-o", "--output-format"):
                if v not in ("text", "json", "stream-json"):
                    fail(f'Invalid values:\n  Argument: output-format, Given: "{v}", Choices: "text", "json", "stream-json"')
                opts["output"] = v
            elif a == "--approval-mode":
                if v not in ("default", "auto_edit", "yolo", "plan"):
                    fail(f'Invalid values:\n  Argument: approval-mode, Given: "{v}"')
                opts["approval"] = v
        elif a.startswith("-"):
            fail(f"Unknown argument: {a.lstrip('-')}")
        else:
            positional.append(a)
        i += 1
    if opts["prompt"] is not None and positional:
        fail("Cannot use both a positional prompt and the --prompt (-p) flag together")
    text = opts["prompt"] if opts["prompt"] is not None else " ".join(positional)
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        if piped:
            text = f"{piped}\n\n{text}" if text else piped
    root = os.environ.get("GEMINI_CLI_HOME") or os.path.expanduser("~")
    gdir = os.path.join(root, ".gemini")
    cwd = os.getcwd()

    def settings():
        try:
            with open(os.path.join(gdir, "settings.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    trusted = opts["skip_trust"] or os.environ.get("GEMINI_CLI_TRUST_WORKSPACE") == "true"
    if not trusted:
        try:
            with open(os.path.join(gdir, "trustedFolders.json")) as f:
                trusted = json.load(f).get(cwd) in ("TRUST_FOLDER", "TRUST_PARENT")
        except (OSError, ValueError, AttributeError):
            trusted = False
    if not trusted:
        fail(f"Gemini CLI is not running in a trusted directory ({cwd}). Trust it with /permissions, "
             "or pass --skip-trust or set GEMINI_CLI_TRUST_WORKSPACE=true for headless use.", 55)
    selected = ((settings().get("security") or {}).get("auth") or {}).get("selectedType")
    authed = False
    if selected == "oauth-personal":
        try:
            with open(os.path.join(gdir, "oauth_creds.json")) as f:
                c = json.load(f)
            authed = bool(c.get("refresh_token") or c.get("access_token"))
        except (OSError, ValueError):
            authed = False
    elif selected in (None, "gemini-api-key"):
        authed = bool(os.environ.get("GEMINI_API_KEY"))
    if not authed:
        fail(f"Please set an Auth method in your {gdir}/settings.json or specify one of the following "
             "environment variables before running: GEMINI_API_KEY, GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA", 41)
    git("rev-parse", "--show-toplevel")

    # Its own state: the installation id, the project registry, the project's tmp folder.
    session = str(uuid.uuid4())
    try:
        os.makedirs(gdir, exist_ok=True)
        iid = os.path.join(gdir, "installation_id")
        if not os.path.exists(iid):
            with open(iid, "w") as f:
                f.write(str(uuid.uuid4()))
        reg_path = os.path.join(gdir, "projects.json")
        try:
            with open(reg_path) as f:
                reg = json.load(f)
        except (OSError, ValueError):
            reg = {"projects": {}}
        slug = reg["projects"].get(cwd) or re.sub(r"[^a-z0-9]+", "-", os.path.basename(cwd).lower()).strip("-") or "root"
        reg["projects"][cwd] = slug
        with open(reg_path, "w") as f:
            json.dump(reg, f, indent=2)
        tmp = os.path.join(gdir, "tmp", slug)
        os.makedirs(os.path.join(tmp, "chats"), exist_ok=True)
        with open(os.path.join(tmp, ".project_root"), "w") as f:
            f.write(cwd)
    except OSError as e:
        fail(f"Error: {e}")

    can_edit = opts["approval"] in ("yolo", "auto_edit")
    reply, _ = work(text, can_edit=can_edit)
    now = datetime.datetime.now(datetime.timezone.utc)
    with open(os.path.join(tmp, "chats", f"session-{now.strftime('%Y-%m-%dT%H-%M')}-{session[:8]}.jsonl"), "w") as f:
        for role, t in (("user", text), ("gemini", reply)):
            f.write(json.dumps({"sessionId": session, "type": role, "content": t, "timestamp": now.isoformat()}) + "\n")
    with open(os.path.join(tmp, "logs.json"), "w") as f:
        json.dump([{"sessionId": session, "messageId": 0, "timestamp": now.isoformat(), "type": "user", "message": text[:200]}], f)
    prompt_tokens, out_tokens = tokens(text) + 20000, tokens(reply)
    tok = {"input": prompt_tokens - 16000, "prompt": prompt_tokens, "candidates": out_tokens,
           "total": prompt_tokens + out_tokens + 100, "cached": 16000, "thoughts": 100, "tool": 0}
    api = {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 5053, "errorsByType": {}}
    out = {"session_id": session, "response": reply, "stats": {
        "models": {"gemini-2.5-pro": {"api": api, "tokens": tok, "roles": {"main": dict(api, tokens=tok)}}},
        "tools": {"totalCalls": 1 if can_edit else 0, "totalSuccess": 1 if can_edit else 0, "totalFail": 0,
                  "totalDurationMs": 12, "totalDecisions": {"accept": 0, "reject": 0, "modify": 0, "auto_accept": 1 if can_edit else 0},
                  "byName": {}},
        "files": {"totalLinesAdded": 1 if can_edit else 0, "totalLinesRemoved": 0}}}
    if opts["output"] == "json":
        print(json.dumps(out, indent=2))
    else:
        print(reply)
    return 0


sys.exit(main())
