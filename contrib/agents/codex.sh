#!/bin/sh
# walt command agent: OpenAI Codex (`codex exec`, JSONL events).
#
#   [agents.codex]
#   command = ["contrib/agents/codex.sh"]
#   read = ["~/.local/bin", "/usr/local/lib/node_modules"]   # where `npm i -g @openai/codex` or a binary put it
#   write = ["~/.codex"]                                     # auth.json, config.toml, sessions/YYYY/MM/DD/rollout-*.jsonl
#   env = ["OPENAI_API_KEY", "CODEX_API_KEY"]
#
# The prompt goes on standard input (`-`). The working folder, repos/, is no repository
# itself, so --skip-git-repo-check. Codex's own sandbox (bubblewrap) cannot be nested in
# walt's, and need not be: walt's decides what it may change (--sandbox danger-full-access).
# Its events go to the run's log; the usage of each `turn.completed` fills `spent:`.
set -u
. "$(dirname "$0")/lib.sh"
walt_prompt >"$TMPDIR/prompt.md"
out="$TMPDIR/events.jsonl"
codex exec --json --skip-git-repo-check --sandbox danger-full-access -C "$PWD" - \
    <"$TMPDIR/prompt.md" >"$out"
status=$?
cat "$out"
walt_spent "$(walt_tokens codex "$out")"
exit "$status"
