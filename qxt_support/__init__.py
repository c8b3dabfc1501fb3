"""Support code shared by the tests, the benchmarks and CI (not part of the installed package).

* ``qxt_support.qwen_tokenizer``: the offline Qwen3 tokenizer and its token ids (``EOS_ID``, ...);
* ``qxt_support.vllm``: finding vLLM's modules and symbols on every supported version (how vLLM
  drives a tool parser is the package's ``qwen_xml_toolparser._vllm_loop``);
* ``qxt_support.equality``: type-strict equality of JSON values;
* ``qxt_support.serving``: vLLM's real ``OpenAIServingChat`` with a scripted engine (tests/serving,
  ci/smoke.py);
* ``qxt_support.scripted``: scripting what the tiny e2e model says, and reading the replies
  (tests/e2e, benchmarks/bench_load.py);
* ``qxt_support.hostile_shapes``: adversarial output shapes (tests/test_hostile.py, test_fuzz.py,
  benchmarks/hostile_scaling.py).

Nothing outside ``tests/`` imports from ``tests/``.

The parser core (``qwen_xml_toolparser``) never imports from here; ``qxt_support.vllm`` reuses
the package's own vLLM lookup (``qwen_xml_toolparser._compat``).
"""

from __future__ import annotations

import os

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VLLM_NO_USAGE_STATS", "DO_NOT_TRACK"):
    os.environ.setdefault(_name, "1")  # nothing from a model hub, no usage reports
