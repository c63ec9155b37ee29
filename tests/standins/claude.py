# --- Claude Code (`claude`), the parts a wrapper meets: print mode (-p), its flags, the JSON
# result with `usage`, credentials in $CLAUDE_CONFIG_DIR (default ~/.claude)/.credentials.json
# or ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN, global state in ~/.claude.json (inside the
# config dir when CLAUDE_CONFIG_DIR is set), transcripts in projects/<cwd, non-alphanumerics
# as '-'>/<session>.jsonl, the git it runs for its context, and its refusal of
# bypassPermissions under root outside a sandbox.
import json
import sys
import uuid
import datetime

VERSION = "2.0.62"


def main():
    args = sys.argv[1:]
    opts = {"print": False, "output": "text", "perm": "default", "tools": None, "verbose": False}
    prompt = None
    valued = {"--output-format", "--permission-mode", "--tools", "--max-turns", "--model",
              "--allowedTools", "--allowed-tools", "--disallowedTools", "--add-dir",
              "--append-system-prompt", "--session-id", "--max-budget-usd"}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--print"):
            opts["print"] = True
        elif a == "--verbose":
            opts["verbose"] = True
        elif a == "--dangerously-skip-permissions":
            opts["perm"] = "bypassPermissions"
        elif a == "--version":
            print(f"{VERSION} (Claude Code)")
            return 0
        elif a in valued:
            if i + 1 >= len(args):
                fail(f"error: option '{a} <value>' argument missing")
            v = args[i + 1]
            i += 1
            if a == "--output-format":
                if v not in ("text", "json", "stream-json"):
                    fail(f"error: option '--output-format <format>' argument '{v}' is invalid.")
                opts["output"] = v
            elif a == "--permission-mode":
                if v not in ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"):
                    fail(f"error: option '--permission-mode <mode>' argument '{v}' is invalid.")
                opts["perm"] = v
            elif a == "--tools":
                opts["tools"] = v
        elif a.startswith("-"):
            fail(f"error: unknown option '{a}'")
        else:
            prompt = a
        i += 1
    if not opts["print"]:
        fail("this stand-in runs print mode only (-p)")
    if opts["output"] == "stream-json" and not opts["verbose"]:
        fail("Error: When using --print, --output-format=stream-json requires --verbose")
    if prompt is None:
        prompt = sys.stdin.read()
    if not prompt.strip():
        fail("Error: Input must be provided either through stdin or as a prompt argument when using --print")
    if opts["perm"] == "bypassPermissions" and os.geteuid() == 0 and os.environ.get("IS_SANDBOX") != "1":
        fail("--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons")

    home = os.path.expanduser("~")
    config_dir = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(home, ".claude")
    state_file = (os.path.join(config_dir, ".claude.json") if os.environ.get("CLAUDE_CONFIG_DIR")
                  else os.path.join(home, ".claude.json"))
    session = str(uuid.uuid4())
    started = datetime.datetime.now(datetime.timezone.utc)

    def result(text, is_error=False, usage=None, denials=()):
        u = usage or {"input_tokens": 0, "output_tokens": 0}
        obj = {
            "type": "result", "subtype": "success", "is_error": is_error,
            "duration_ms": 1200, "duration_api_ms": 1100, "num_turns": 1, "result": text,
            "session_id": session, "total_cost_usd": round(u.get("output_tokens", 0) * 1.5e-5, 6),
            "usage": {
                "input_tokens": u.get("input_tokens", 0),
                "cache_creation_input_tokens": u.get("cache_creation_input_tokens", 0),
                "cache_read_input_tokens": u.get("cache_read_input_tokens", 0),
                "output_tokens": u.get("output_tokens", 0),
                "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard",
            },
            "modelUsage": {"claude-sonnet-4-5-20250929": {
                "inputTokens": u.get("input_tokens", 0), "outputTokens": u.get("output_tokens", 0),
                "cacheReadInputTokens": u.get("cache_read_input_tokens", 0),
                "cacheCreationInputTokens": u.get("cache_creation_input_tokens", 0),
                "webSearchRequests": 0, "costUSD": 0.0, "contextWindow": 200000}},
            "permission_denials": list(denials), "uuid": str(uuid.uuid4()),
        }
        if opts["output"] == "text":
            print(text)
        else:
            print(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
        sys.exit(1 if is_error else 0)

    # Credentials: the environment, else the file the CLI's login wrote.
    logged_in = bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"))
    if not logged_in:
        try:
            with open(os.path.join(config_dir, ".credentials.json")) as f:
                logged_in = bool(json.load(f)["claudeAiOauth"]["accessToken"])
        except (OSError, ValueError, KeyError, TypeError):
            logged_in = False
    if not logged_in:
        result("Invalid API key · Please run /login", is_error=True)

    # Its global state, read and written at every start.
    try:
        with open(state_file) as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    state["numStartups"] = state.get("numStartups", 0) + 1
    state.setdefault("installMethod", "native")
    state.setdefault("userID", uuid.uuid4().hex)
    state.setdefault("projects", {}).setdefault(os.getcwd(), {"allowedTools": [], "history": []})
    try:
        os.makedirs(os.path.dirname(state_file), exist_ok=True)
        with open(state_file, "w") as f:
            json.dump(state, f, indent=2)
    except OSError as e:
        fail(f"Error: EACCES: permission denied, open '{state_file}' ({e.strerror})")

    # The context it gathers from git before the first turn.
    git("--no-optional-locks", "status", "--short", "--ignore-submodules=dirty")
    git("--no-optional-locks", "log", "--oneline", "-n", "5")
    git("config", "user.name")

    answer = brain(prompt)
    denials = []
    if answer is not None:
        reply = answer
    else:
        can_edit = opts["perm"] in ("acceptEdits", "bypassPermissions") and opts["tools"] != ""
        reply, _ = work(prompt, can_edit=can_edit)
        if not can_edit:
            denials = [{"tool_name": "Write", "tool_use_id": "toolu_01", "tool_input": {}}]

    # The transcript, where the CLI keeps every session.
    slug = re.sub(r"[^a-zA-Z0-9]", "-", os.getcwd())
    tdir = os.path.join(config_dir, "projects", slug)
    try:
        os.makedirs(tdir, exist_ok=True)
        with open(os.path.join(tdir, f"{session}.jsonl"), "w") as f:
            for role, text in (("user", prompt), ("assistant", reply)):
                f.write(json.dumps({"type": role, "sessionId": session, "cwd": os.getcwd(),
                                    "version": VERSION, "timestamp": started.isoformat(),
                                    "uuid": str(uuid.uuid4()),
                                    "message": {"role": role, "content": text}}) + "\n")
    except OSError as e:
        fail(f"Error: EACCES: permission denied, mkdir '{tdir}' ({e.strerror})")

    result(reply, usage={"input_tokens": 3, "cache_creation_input_tokens": tokens(prompt),
                         "cache_read_input_tokens": 12000, "output_tokens": tokens(reply)},
           denials=denials)


sys.exit(main())
