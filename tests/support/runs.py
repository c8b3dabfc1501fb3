"""Session-wide memo of parser runs, so that test modules that look at the same
input in the same split mode (fixtures, split invariance) parse it once."""

from __future__ import annotations

import json
import os

from tests.support import vllm_driver as drv

THOROUGH = os.environ.get("QXT_THOROUGH", "") not in ("", "0")
# Debug knob: QXT_FINISHES=stop,stop-merged,length restricts the finish modes
# used by every suite (default: all of vllm_driver.FINISHES).
FINISHES = tuple(f for f in os.environ.get("QXT_FINISHES", ",".join(drv.supported_finishes())).split(",") if f)

_stream_memo: dict = {}
_whole_memo: dict = {}


def _key(tools):
    return json.dumps(tools, sort_keys=True) if tools is not None else None


def stream(text: str, tools, mode: str, seed: int = 0, finish: str = "stop"):
    k = (text, _key(tools), mode, seed, finish)
    if k not in _stream_memo:
        _stream_memo[k] = drv.stream(text, tools, mode, seed, finish)
    return _stream_memo[k]


def whole(text: str, tools):
    k = (text, _key(tools))
    if k not in _whole_memo:
        _whole_memo[k] = drv.parse_whole(text, tools)
    return _whole_memo[k]


def split_plans(truncated: bool = False, seed_base: int = 0) -> list[tuple[str, int, str]]:
    """(mode, seed, finish) for every split mode; random mode with 3 seeds in CI
    (20 with QXT_THOROUGH=1). Truncated outputs also run with finish="length"
    (max_tokens: no EOS) and finish="length-unknown" (no EOS and no max_tokens
    in the request: the context window ran out)."""
    n_random = 20 if THOROUGH else 3
    plans = [("whole", 0, "stop"), ("special", 0, "stop"), ("token", 0, "stop"), ("char", 0, "stop")]
    plans += [("random", seed_base * 1000 + s, "stop") for s in range(n_random)]
    if truncated:
        for finish in ("length", "length-unknown"):
            plans += [("whole", 0, finish), ("token", 0, finish), ("char", 0, finish)]
            plans += [("random", seed_base * 1000 + s, finish) for s in range(n_random)]
    return [p for p in plans if p[2] in FINISHES]
