# Shared by the wrappers in contrib/agents/ (sourced, not run). walt runs a wrapper confined,
# in the studio's repos/ folder, with the order on standard input and in the environment:
#   WALT_ORDER_ID     the order's id (0042)
#   WALT_ORDER_FILE   a copy of the order, in the run's private folder
#   WALT_REPORT_FILE  where the report goes (else standard output is read as one)
#   WALT_AGENT        the agent it runs as
#   TMPDIR            the run's private folder, removed after the run
# The run may write the order's Files, its profile's `write` paths and TMPDIR; nothing else.

here=$(dirname "$0")

# The prompt a coding agent gets: what the order is, how paths read, what may change, where
# the report goes and in what format; then the order itself.
walt_prompt() {
    cat <<PROMPT
You are $WALT_AGENT, a specialist working one work order in a walt studio. Do exactly the
work order below and nothing else.

Rules:
- Every path in the order is relative to the studio root, e.g. repos/app/src/lib.rs. Your
  working folder is the studio's repos/ folder, so that file is app/src/lib.rs from here.
- Change only the files listed under **Files:**. The sandbox refuses every other write, and
  review rejects a report that touches anything else. Work that needs other files belongs in
  the report's Note, as a follow-up for someone else.
- Do not commit, push or change git settings: walt commits your accepted work, as you.
- When you are done, or cannot go on, write your report to this file:
  $WALT_REPORT_FILE
  in exactly this format (the Acceptance bullets repeat the order's, each ticked [x] only if
  you checked it, with the evidence after " — "):

---
re: $WALT_ORDER_ID
from: $WALT_AGENT
status: done
---
**Outcome:** One sentence saying what is now true.

**Acceptance:**
- [x] <the order's first Acceptance bullet, word for word> — <evidence>

**Touched:**
- <each file you changed, studio-relative, e.g. repos/app/src/lib.rs>

**Note:** none

  status is one of done | failed | halted | blocked; all but done need a Note saying why.

The work order (also in $WALT_ORDER_FILE):

PROMPT
    cat "$WALT_ORDER_FILE"
}

# The order's Files, one a line, as written (studio-relative).
walt_files() {
    awk '$0 == "**Files:**" || $0 == "## Files" {on=1; next}
         /^\*\*[A-Za-z]+:\*\*/ || /^## / {on=0}
         on && /^- / {print substr($0, 3)}' "$WALT_ORDER_FILE"
}

# Adds `spent: N` to the report's front matter (the tokens the CLI says it used), unless the
# report already says it or there is no report or no figure.
walt_spent() {
    spent=$1
    [ -n "$spent" ] && [ -s "$WALT_REPORT_FILE" ] || return 0
    grep -q '^spent:' "$WALT_REPORT_FILE" && return 0
    awk -v spent="$spent" 'NR == 1 && $0 == "---" {print; fm = 1; next}
        fm && $0 == "---" {print "spent: " spent; fm = 0}
        {print}' "$WALT_REPORT_FILE" > "$TMPDIR/report.spent" &&
        cat "$TMPDIR/report.spent" > "$WALT_REPORT_FILE"
}

# The tokens a CLI's own output says it used (see spent.py); empty when it says none.
walt_tokens() {
    python3 "$here/spent.py" "$1" "$2" 2>/dev/null || true
}
