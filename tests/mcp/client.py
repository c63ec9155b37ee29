"""Drives `walt mcp` with the official Python MCP SDK (the `mcp` package), as a coding agent's
MCP client would: `client.py WALT STUDIO AGENT SCRIPT`, where SCRIPT is a JSON list of
[tool, arguments] calls (or ["list_tools"]). Prints one JSON line per step: the tool list, or
each call's isError, text and structured content."""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    walt, studio, agent, script = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    params = StdioServerParameters(command=walt, args=["--root", studio, "mcp", "--agent", agent])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            info = getattr(init, "server_info", None) or getattr(init, "serverInfo")
            print(json.dumps({"server": info.name}), flush=True)
            for step in script:
                if step[0] == "list_tools":
                    tools = await session.list_tools()
                    print(json.dumps({"tools": [
                        {"name": t.name, "description": t.description,
                         "schema": getattr(t, "input_schema", None) or getattr(t, "inputSchema", None)}
                        for t in tools.tools
                    ]}), flush=True)
                    continue
                name, args = step
                r = await session.call_tool(name, args)
                text = "".join(c.text for c in r.content if getattr(c, "type", "") == "text")
                is_error = getattr(r, "is_error", None)
                if is_error is None:
                    is_error = getattr(r, "isError", False)
                structured = getattr(r, "structured_content", None)
                if structured is None:
                    structured = getattr(r, "structuredContent", None)
                print(json.dumps({"tool": name, "isError": bool(is_error), "text": text,
                                  "structured": structured}), flush=True)


asyncio.run(main())
