#!/bin/sh
# An example command agent for walt. Copy it, and replace the "work" below with a
# call to your coding agent. walt runs it in repos/ with the order on standard input and:
#   WALT_ORDER_ID     the order's id (0042)
#   WALT_ORDER_FILE   a copy of the order
#   WALT_REPORT_FILE  where to write the report (else standard output is read as one)
#   WALT_AGENT        the agent it runs as
# It is confined by Landlock: it can write only the order's Files and its report.
set -eu
order=$(cat "$WALT_ORDER_FILE")
section() { printf '%s\n' "$order" | awk -v s="**$1:**" '$0 == s {on=1; next} /^\*\*[A-Za-z]+:\*\*/ {on=0} on && /^- / {print substr($0, 3)}'; }
objective=$(printf '%s\n' "$order" | sed -n 's/^\*\*Objective:\*\* //p')

# The "work": a real agent edits the files; this one appends a line to each.
section Files | while IFS= read -r file; do
    path=${file#repos/}
    mkdir -p "$(dirname "$path")"
    printf '%s\n' "-- order $WALT_ORDER_ID: $objective" >> "$path"
done

{
    printf -- '---\nre: %s\nfrom: %s\nstatus: done\n---\n' "$WALT_ORDER_ID" "$WALT_AGENT"
    printf '**Outcome:** %s\n\n**Acceptance:**\n' "$objective"
    section Acceptance | sed 's/^/- [x] /'
    printf '\n**Touched:**\n'
    section Files | sed 's/^/- /'
    printf '\n**Note:** none\n'
} > "$WALT_REPORT_FILE"
