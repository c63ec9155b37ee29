#!/usr/bin/env python3
"""The tokens a coding-agent CLI says a run used, from its own output: `spent.py KIND FILE`.

  claude  `claude -p --output-format json`: the result object's `usage`
          (input_tokens + cache_creation_input_tokens + cache_read_input_tokens + output_tokens)
  codex   `codex exec --json`: every `turn.completed` event's `usage`
          (input_tokens + output_tokens; cached_input_tokens are part of input_tokens)
  gemini  `gemini -p --output-format json`: `stats.models.<model>.tokens.total`, every model
  aider   the `Tokens: 1.2k sent, 345 received.` lines (aider rounds to thousands past 1000)

Prints one whole number, or nothing when the output has no usage.
"""
import json
import re
import sys


def claude(text):
    # The last JSON object printed is the result (stream-json prints several).
    for line in reversed(text.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("type") == "result" and isinstance(obj.get("usage"), dict):
            u = obj["usage"]
            keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
            return sum(int(u.get(k) or 0) for k in keys)
    try:
        obj = json.loads(text)
        u = obj["usage"]
        keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        return sum(int(u.get(k) or 0) for k in keys)
    except (ValueError, KeyError, TypeError):
        return None


def codex(text):
    total, seen = 0, False
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") == "turn.completed" and isinstance(ev.get("usage"), dict):
            u = ev["usage"]
            total += int(u.get("input_tokens") or 0) + int(u.get("output_tokens") or 0)
            seen = True
    return total if seen else None


def gemini(text):
    try:
        obj = json.loads(text[text.index("{"):])
    except ValueError:
        return None
    models = (obj.get("stats") or {}).get("models") or {}
    totals = [int(((m or {}).get("tokens") or {}).get("total") or 0) for m in models.values()]
    return sum(totals) if totals else None


def aider_count(s):
    s = s.strip()
    if s.endswith("k"):
        return int(float(s[:-1]) * 1000)
    return int(s.replace(",", ""))


def aider(text):
    total, seen = 0, False
    for m in re.finditer(r"^Tokens: ([0-9.,]+k?) sent,(?:.*?,)? ([0-9.,]+k?) received\.", text, re.M):
        total += aider_count(m.group(1)) + aider_count(m.group(2))
        seen = True
    return total if seen else None


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    n = {"claude": claude, "codex": codex, "gemini": gemini, "aider": aider}[kind](text)
    if n is not None:
        print(n)


if __name__ == "__main__":
    main()
