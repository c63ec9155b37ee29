# The "model" behind every stand-in CLI (there is no network here): it reads the prompt a
# wrapper sends, as a model would, and acts through the CLI's tools: it edits the order's Files
# (paths from the prompt, studio-relative, the working folder being repos/) and writes the
# report where the prompt says. As Walt's brain it answers with the work order to write.
# Each stand-in CLI is this file followed by the CLI's own part, installed as one program.
import os
import re
import sys


def section(text, name):
    """The bullets of a labelled section (`**Files:**` or `## Files`)."""
    out, on = [], False
    for line in text.splitlines():
        if line.strip() in (f"**{name}:**", f"## {name}"):
            on = True
            continue
        if on and (re.match(r"^\*\*[A-Za-z]+:\*\*", line) or line.startswith("## ")):
            on = False
        if on and line.startswith("- "):
            out.append(line[2:].strip())
    return out


def order_of(prompt):
    """The work order in a wrapper's prompt: what follows its last `---` front matter with an id."""
    blocks = [b for b in re.finditer(r"^---\n((?:(?!---$).*\n)*?)---\n", prompt, re.M)
              if re.search(r"^id: *\d+$", b.group(1), re.M)]
    if not blocks:
        return None
    start = blocks[-1].start()
    text = prompt[start:]
    oid = re.search(r"^id: *(\d+)$", blocks[-1].group(1), re.M).group(1)
    objective = re.search(r"^\*\*Objective:\*\* *(.*)$", text, re.M)
    return {
        "id": oid,
        "text": text,
        "objective": objective.group(1).strip() if objective else "",
        "files": section(text, "Files"),
        "acceptance": section(text, "Acceptance"),
    }


def report_path(prompt):
    m = re.search(r"write your report to this file:\s*\n\s*(\S+)", prompt)
    return m.group(1) if m else None


def agent_of(prompt):
    m = re.search(r"^You are ([a-z][a-z0-9-]*),", prompt, re.M)
    return m.group(1) if m else "agent"


def report_text(order, agent, touched):
    lines = ["---", f"re: {order['id']}", f"from: {agent}", "status: done", "---",
             f"**Outcome:** {order['objective']}", "", "**Acceptance:**"]
    lines += [f"- [x] {a} — checked by the stand-in" for a in order["acceptance"]]
    lines += ["", "**Touched:**"] + [f"- {t}" for t in touched] + ["", "**Note:** none", ""]
    return "\n".join(lines)


def work(prompt, can_edit=True, write_report=True):
    """Does the order in the prompt; returns (reply, edited files relative to cwd)."""
    order = order_of(prompt)
    if order is None:
        return ("I found no work order in the prompt.", [])
    agent = agent_of(prompt)
    if not can_edit:
        return ("I need permission to edit files, which was not given.", [])
    edited = []
    for f in order["files"]:
        if f.endswith("/"):
            continue
        rel = f[len("repos/"):] if f.startswith("repos/") else f
        os.makedirs(os.path.dirname(rel) or ".", exist_ok=True)
        with open(rel, "a", encoding="utf-8") as out:
            out.write(f"// {order['objective']} ({agent}, order {order['id']})\n")
        edited.append(rel)
    report = report_text(order, agent, [f for f in order["files"] if not f.endswith("/")])
    path = report_path(prompt)
    if write_report and path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(report)
        return (f"Done: {order['objective']} The report is in {path}.", edited)
    return (f"Done: {order['objective']}\n\n{report}", edited)


def brain(prompt):
    """Walt's question (the message in hand, the answer format): the work order to write."""
    m = re.search(r"^## Message in hand\n(.*?)(?=^## Your last answer was refused|^## Your answer)",
                  prompt, re.M | re.S)
    if not m:
        return None
    request = m.group(1)
    fm = re.match(r"^---\n(.*?)\n---\n", request, re.S)
    body = request[fm.end():] if fm else request
    to = re.search(r"^to: *(\S+)", fm.group(1), re.M) if fm else None
    objective = re.search(r"^\*\*Objective:\*\* *(.*)$", body, re.M)
    words = objective.group(1).lower() if objective else ""
    agent = to.group(1) if to else ("rex" if re.search(r"\b(audit|review)", words) else "chip")
    return f"---\nto: {agent}\nreason: the objective is {agent}'s kind of work\n---\n{body.strip()}\n"


def tokens(text):
    """A model's token count, roughly (4 characters a token)."""
    return max(1, len(text) // 4)


def git(*args):
    """Runs git as the CLI does; its output, or None outside a repository."""
    import subprocess
    try:
        p = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout if p.returncode == 0 else None


def fail(msg, code=1):
    """Says what went wrong on stderr and exits, as the CLIs do."""
    print(msg, file=sys.stderr)
    sys.exit(code)
