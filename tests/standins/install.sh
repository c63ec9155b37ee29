#!/bin/sh
# Installs a stand-in CLI into a HOME the way the real one installs itself:
#   install.sh HOME claude|codex|gemini|aider
# Claude Code's native installer: ~/.local/bin/claude -> ~/.local/share/claude/versions/<v>;
# the others as one program in ~/.local/bin (npm and pipx put a launcher there or in
# /usr/local/bin). Each is model.py with the CLI's part after it, one file.
set -eu
home=$1 cli=$2 here=$(dirname "$0")
mkdir -p "$home/.local/bin"
case $cli in
claude)
    target="$home/.local/share/claude/versions/2.0.62"
    mkdir -p "$(dirname "$target")"
    ln -sf "$target" "$home/.local/bin/claude" ;;
*) target="$home/.local/bin/$cli" ;;
esac
{ printf '#!/usr/bin/env python3\n'; cat "$here/model.py" "$here/$cli.py"; } >"$target"
chmod 755 "$target"
