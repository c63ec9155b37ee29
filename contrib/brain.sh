#!/bin/sh
# An example brain for walt, for tests and demos. walt runs it, confined (it can
# read nothing of the studio), with Walt's hot context as the prompt on standard input, and
# reads one work order from standard output: front matter `to`, `reason` (and `override`),
# then the four parts. This one routes like a clerk: it keeps the request's four parts and
# sends it to the request's `to:`, else to $WALT_BRAIN_DEFAULT (chip).
#
# A real brain is a model CLI in print mode, e.g.:
#   brain_command = ["sh", "-c", "claude -p \"$(cat)\""]
set -eu
prompt=$(cat)
request=$(printf '%s\n' "$prompt" | awk '
    $0 == "## Message in hand" { on = 1; next }
    $0 == "## Your last answer was refused" || $0 == "## Your answer" { on = 0 }
    on')
to=$(printf '%s\n' "$request" | sed -n 's/^to: *//p' | head -n 1)
override=$(printf '%s\n' "$request" | sed -n 's/^override: *//p' | head -n 1)
[ -n "$to" ] || to=${WALT_BRAIN_DEFAULT:-chip}
body=$(printf '%s\n' "$request" | awk 'NR == 1 && $0 == "---" { fm = 1; next } fm && $0 == "---" { fm = 0; next } !fm')
printf -- '---\nto: %s\nreason: the request asks for %s\n' "$to" "$to"
[ -z "$override" ] || printf 'override: %s\n' "$override"
printf -- '---\n%s\n' "$body"
