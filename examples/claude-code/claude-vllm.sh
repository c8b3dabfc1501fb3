#!/usr/bin/env bash
# Run Claude Code against vLLM's own Anthropic endpoint (/v1/messages), no proxy in between.
# Start vLLM first with one of the serve scripts (they serve the model as "qwen3-coder"), e.g.
#   examples/vllm-serve-qwen3-coder-30b-a3b.sh            # or vllm-serve-qwen3.5.sh for thinking
# then, from the project you want to work on:
#   path/to/examples/claude-code/claude-vllm.sh [claude arguments...]
#
# Environment: VLLM_URL (http://127.0.0.1:8000, without /v1), VLLM_API_KEY (what vLLM was started
# with as --api-key; vLLM checks "Authorization: Bearer", which is what ANTHROPIC_AUTH_TOKEN sends),
# MODEL (served model name, qwen3-coder). The same settings as a file: settings.json here (copy its
# "env" into ~/.claude/settings.json or the project's .claude/settings.json).
set -euo pipefail
model=${MODEL:-qwen3-coder}
export ANTHROPIC_BASE_URL=${VLLM_URL:-http://127.0.0.1:8000}
export ANTHROPIC_AUTH_TOKEN=${VLLM_API_KEY:-dummy}
unset ANTHROPIC_API_KEY  # else Claude Code may prefer it (and send it as x-api-key, which vLLM ignores)
# every model slot Claude Code uses (main, background/fast, the /model aliases) -> the served model
export ANTHROPIC_MODEL=$model ANTHROPIC_SMALL_FAST_MODEL=$model ANTHROPIC_DEFAULT_HAIKU_MODEL=$model \
  ANTHROPIC_DEFAULT_SONNET_MODEL=$model ANTHROPIC_DEFAULT_OPUS_MODEL=$model
export CLAUDE_CODE_MAX_OUTPUT_TOKENS=${CLAUDE_CODE_MAX_OUTPUT_TOKENS:-16384}  # < --max-model-len minus the prompt
export API_TIMEOUT_MS=${API_TIMEOUT_MS:-600000}
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1
exec "${CLAUDE:-claude}" "$@"
