"""tests/sglang: qwen_xml_safe through SGLang 0.5.23 at the import level on CPU (make test-sglang,
in the venv of ci/sglang.sh). Not collected by `pytest tests` (pyproject.toml norecursedirs): the
vLLM venvs have no SGLang, and SGLang's venv has no vLLM."""

from __future__ import annotations


def pytest_report_header(config):
    import sglang

    return [f"qwen-xml-toolparser: SGLang {sglang.__version__} detector 'qwen_xml_safe'"]
