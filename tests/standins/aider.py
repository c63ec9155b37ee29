# --- aider, the parts a wrapper meets: scripting with --message/--message-file and the files
# to edit, its flags (argparse: an unknown one is exit 2), the model picked from the API key in
# the environment, ~/.aider/ (analytics.json, caches/), its chat and input history (in the git
# root unless named), `.aider*` added to .gitignore unless --no-gitignore, the git it runs
# (the repository of the files, user.name, commits unless --no-auto-commits), its header, and
# its `Tokens: … sent, … received.` line.
import json
import sys
import uuid
import datetime

VERSION = "0.86.2"


def fmt_tokens(n):
    if n < 1000:
        return str(n)
    if n < 10000:
        return f"{n / 1000:.1f}k"
    return f"{round(n / 1000)}k"


def main():
    args = sys.argv[1:]
    flags = {"--yes-always", "--yes", "--no-auto-commits", "--auto-commits", "--no-dirty-commits",
             "--dirty-commits", "--no-gitignore", "--gitignore", "--no-check-update", "--check-update",
             "--no-show-release-notes", "--analytics-disable", "--no-analytics", "--no-pretty",
             "--no-stream", "--no-git", "--no-show-model-warnings", "--no-restore-chat-history",
             "--subtree-only"}
    valued = {"--message", "-m", "--msg", "--message-file", "-f", "--model", "--edit-format",
              "--chat-history-file", "--input-history-file", "--llm-history-file", "--map-tokens",
              "--env-file", "--api-key"}
    seen, opts, files = set(), {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in flags:
            seen.add(a)
        elif a in valued:
            if i + 1 >= len(args):
                fail(f"aider: error: argument {a}: expected one argument", 2)
            opts[a] = args[i + 1]
            i += 1
        elif a.startswith("-"):
            fail(f"usage: aider [-h] [--model MODEL] ... [FILE ...]\naider: error: unrecognized arguments: {a}", 2)
        else:
            files.append(a)
        i += 1
    message = opts.get("--message") or opts.get("-m") or opts.get("--msg")
    if opts.get("--message-file") or opts.get("-f"):
        with open(opts.get("--message-file") or opts.get("-f"), encoding="utf-8") as f:
            message = f.read()
    home = os.path.expanduser("~")
    adir = os.path.join(home, ".aider")
    if "--analytics-disable" in seen:
        try:
            os.makedirs(adir, exist_ok=True)
            with open(os.path.join(adir, "analytics.json"), "w") as f:
                json.dump({"uuid": str(uuid.uuid4()), "permanently_disable": True, "asked_opt_in": False}, f)
        except OSError as e:
            fail(f"PermissionError: {e}")
        print("Analytics have been permanently disabled.")
    if "--no-check-update" not in seen:
        os.makedirs(os.path.join(adir, "caches"), exist_ok=True)
        open(os.path.join(adir, "caches", "versioncheck"), "w").close()
    model = opts.get("--model")
    if not model:
        if os.environ.get("ANTHROPIC_API_KEY"):
            model = "claude-sonnet-4-20250514"
        elif os.environ.get("OPENAI_API_KEY"):
            model = "gpt-4o"
        else:
            fail("No LLM model was specified and no API keys were provided.\n"
                 "OpenRouter provides free and paid access to many LLMs.")
    # The repository: the files' own, found from their folder.
    first = os.path.dirname(os.path.abspath(files[0])) if files else os.getcwd()
    top = None if "--no-git" in seen else git("-C", first, "rev-parse", "--show-toplevel")
    top = top.strip() if top else None
    if top and not git("-C", top, "config", "--get", "user.name"):
        # aider sets an identity in the repository's own config when there is none.
        git("-C", top, "config", "user.name", "Your Name")
    base = top or os.getcwd()
    if top and "--no-gitignore" not in seen:
        try:
            with open(os.path.join(top, ".gitignore"), "a") as f:
                f.write(".aider*\n")
            print("Added .aider* to .gitignore")
        except OSError as e:
            fail(f"PermissionError: [Errno {e.errno}] {e.strerror}: '{os.path.join(top, '.gitignore')}'")
    now = datetime.datetime.now()
    try:
        with open(opts.get("--chat-history-file") or os.path.join(base, ".aider.chat.history.md"), "a") as f:
            f.write(f"\n# aider chat started at {now.strftime('%Y-%m-%d %H:%M:%S')}\n\n#### {(message or '').splitlines()[0] if message else ''}\n")
        with open(opts.get("--input-history-file") or os.path.join(base, ".aider.input.history"), "a") as f:
            f.write(f"\n# {now}\n+{(message or '').splitlines()[0] if message else ''}\n")
    except OSError as e:
        fail(f"PermissionError: [Errno {e.errno}] {e.strerror}: {e.filename}")
    n = len((git("-C", top, "ls-files") or "").splitlines()) if top else 0
    print(f"Aider v{VERSION}")
    print(f"Main model: {model} with diff edit format, infinite output")
    print(f"Git repo: {os.path.relpath(os.path.join(top, '.git'))} with {n} files" if top else "Git repo: none")
    print("Repo-map: disabled" if opts.get("--map-tokens") == "0" else "Repo-map: using 4096 tokens, auto refresh")
    for f in files:
        print(f"Added {f} to the chat.")
    print()
    if not message:
        fail("stand-in: no --message given (the interactive chat is not stood in for)")
    reply, edited = work(message, can_edit=True, write_report=False)
    print(reply)
    print()
    print(f"Tokens: {fmt_tokens(tokens(message) + 2400)} sent, {fmt_tokens(tokens(reply))} received.")
    for e in edited:
        print(f"Applied edit to {e}")
    if top and edited and "--no-auto-commits" not in seen:
        out = git("-C", top, "commit", "--no-verify", "-m", "feat: apply the work order", "--", *[os.path.abspath(e) for e in edited])
        print("Commit made." if out is not None else "Unable to commit: git failed")
    return 0


sys.exit(main())
