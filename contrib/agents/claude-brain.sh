#!/bin/sh
# walt brain: Claude Code in print mode answers Walt's routing question.
#
#   [walt]
#   brain = "command"
#   [brain]
#   command = ["contrib/agents/claude-brain.sh"]
#   timeout = "60s"
#   read = ["~/.local/bin", "~/.local/share/claude"]
#   write = ["~/.claude"]
#   env = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]
#
# Standard input is Walt's hot context as a prompt (exactly what his meter counts, with the
# answer format at its end); standard output must be the one work order he writes. The brain
# reaches nothing of the studio (no repos/, no inboxes) and needs no tools: --tools "" turns
# them off, so the model can only answer. The JSON's `result` is the answer.
set -u
export CLAUDE_CONFIG_DIR="${CLAUDE_CONFIG_DIR:-$HOME/.claude}"
out="$TMPDIR/claude.json"
claude -p --output-format json --tools "" --max-turns 1 >"$out"
status=$?
[ "$status" -eq 0 ] || { cat "$out" >&2; exit "$status"; }
python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
if r.get("is_error"):
    sys.exit("claude: " + str(r.get("result")))
sys.stdout.write(r.get("result") or "")' "$out"
