#!/bin/sh
# walt command agent: Claude Code (`claude -p`, print mode, JSON output).
#
#   [agents.claude]
#   command = ["contrib/agents/claude-code.sh"]
#   read = ["~/.local/bin", "~/.local/share/claude"]   # the native install: bin/claude -> share/claude/versions/<v>
#   write = ["~/.claude"]                              # .credentials.json, .claude.json, settings, projects/ transcripts
#   env = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]
#
# Claude Code keeps its state in ~/.claude and in ~/.claude.json (a file in HOME itself, which
# a run may not write); CLAUDE_CONFIG_DIR=~/.claude puts that file inside ~/.claude too, where
# the profile grants it (the credentials stay where they are: ~/.claude/.credentials.json).
# Edits are allowed without asking (bypassPermissions): walt's sandbox, not the CLI's prompt,
# decides what it may change. IS_SANDBOX=1 tells the CLI it is in one, which it requires for
# that mode under root. The JSON result goes to the run's log; its usage fills `spent:`.
set -u
. "$(dirname "$0")/lib.sh"
export CLAUDE_CONFIG_DIR="${CLAUDE_CONFIG_DIR:-$HOME/.claude}"
export IS_SANDBOX=1
out="$TMPDIR/claude.json"
walt_prompt | claude -p --output-format json --permission-mode bypassPermissions >"$out"
status=$?
cat "$out"
walt_spent "$(walt_tokens claude "$out")"
exit "$status"
