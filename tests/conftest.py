"""Shared pytest setup for the issue-2 suites (fixtures, split invariance,
round trip, fuzz, vLLM contract).

* ``QXT_THOROUGH=1``: more hypothesis examples, fuzz cases and random split
  seeds (CI runs the default, fast profile).
* ``QXT_TOOL_PARSER=<name>``: run against another registered vLLM tool parser
  (e.g. ``qwen3_coder``, vLLM's in-tree one) instead of the plugin.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

THOROUGH = os.environ.get("QXT_THOROUGH", "") not in ("", "0")

_common = dict(
    deadline=None,
    database=None,  # no .hypothesis/ directory in the tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
    print_blob=True,
)
# CI: derandomized, so every CI run checks the same examples (reproducible).
settings.register_profile("qxt-ci", derandomize=True, **_common)
# Opt-in: random examples, new ones on each run.
settings.register_profile("qxt-thorough", derandomize=False, **_common)
settings.load_profile("qxt-thorough" if THOROUGH else "qxt-ci")


def pytest_report_header(config):
    from tests.support import vllm_driver as drv

    return [f"qwen-xml-toolparser: tool parser {drv.PARSER_NAME!r}"
            f"{' (plugin ' + str(drv.PLUGIN_PATH) + ')' if drv.PARSER_NAME == drv.PLUGIN_PARSER_NAME else ''}, "
            f"thorough={THOROUGH}"]


@pytest.fixture(scope="session")
def driver():
    """The vLLM driver, with the parser class loaded once per session."""
    from tests.support import vllm_driver as drv

    if not drv.plugin_available():
        pytest.skip(f"{drv.PLUGIN_PATH} does not exist yet (set QXT_TOOL_PARSER=qwen3_coder "
                    "to run the harness against vLLM's in-tree parser)")
    drv.parser_class()
    drv.tokenizer()
    return drv
