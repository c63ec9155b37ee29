#!/bin/sh
# walt command agent: aider (`aider --message-file`, scripted).
#
#   [agents.aider]
#   command = ["contrib/agents/aider.sh"]
#   read = ["~/.local"]                 # pipx and uv install aider under ~/.local
#   write = ["~/.aider", "~/.cache"]    # analytics.json, caches/ (model prices, version check)
#   env = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
#
# aider edits only the files it is given, so it gets the order's Files. It writes nothing
# else: no commits (walt commits), no .gitignore edit, chat and input history in the run's
# folder, no repo map cache (--map-tokens 0). aider can only edit files in its chat, so the
# model ends its reply with the report, and this wrapper takes it from aider's output into
# the report file. aider's `Tokens: … sent, … received.` lines fill `spent:`.
set -u
. "$(dirname "$0")/lib.sh"
walt_prompt >"$TMPDIR/message.md"
cat >>"$TMPDIR/message.md" <<'TAIL'

You cannot write files outside the chat: instead of writing the report file, end your reply
with the report itself, from its first `---` line to its Note.
TAIL
files=$(walt_files | sed 's|^repos/||')
out="$TMPDIR/aider.out"
# shellcheck disable=SC2086 # one File a word, as aider takes them
aider --message-file "$TMPDIR/message.md" --yes-always \
    --no-auto-commits --no-dirty-commits --no-gitignore --map-tokens 0 \
    --no-check-update --no-show-release-notes --analytics-disable --no-pretty --no-stream \
    --chat-history-file "$TMPDIR/chat.md" --input-history-file "$TMPDIR/input.history" \
    $files >"$out" 2>&1
status=$?
cat "$out"
# The report: from a `---` line followed by `re:` to the end of its Note.
awk 'prev == "---" && /^re: / {on = 1; print "---"}
     on && /^(Tokens: |Applied edit to |Cost: )/ {exit}
     on {print}
     {prev = $0}' "$out" >"$TMPDIR/aider-report.md"
if [ -s "$TMPDIR/aider-report.md" ]; then
    cat "$TMPDIR/aider-report.md" >"$WALT_REPORT_FILE"
fi
walt_spent "$(walt_tokens aider "$out")"
exit "$status"
