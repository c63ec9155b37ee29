#!/bin/sh
# walt command agent: Gemini CLI (`gemini -p`, JSON output).
#
#   [agents.gemini]
#   command = ["contrib/agents/gemini.sh"]
#   read = ["~/.local/bin", "/usr/local/lib/node_modules"]   # where `npm i -g @google/gemini-cli` put it
#   write = ["~/.gemini"]                                    # settings.json, oauth_creds.json, projects.json, tmp/<project>/
#   env = ["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"]
#
# Standard input is read first and the -p text appended to it. Headless, the CLI denies any
# tool that would ask, so edits are approved (--approval-mode yolo): walt's sandbox decides
# what it may change. repos/ is trusted for this run (GEMINI_CLI_TRUST_WORKSPACE), else a
# headless run in an untrusted folder exits 55. The JSON goes to the run's log; the tokens of
# every model in its stats fill `spent:`.
set -u
. "$(dirname "$0")/lib.sh"
export GEMINI_CLI_TRUST_WORKSPACE=true
out="$TMPDIR/gemini.json"
walt_prompt | gemini -p "Do the work order above, then write the report as it says." \
    --output-format json --approval-mode yolo >"$out"
status=$?
cat "$out"
walt_spent "$(walt_tokens gemini "$out")"
exit "$status"
