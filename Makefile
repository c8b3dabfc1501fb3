# The two commands of the README's quick start are `make demo` and `make test`.
# Everything installs itself (cached under ~/.cache/qwen-xml-toolparser, outside the checkout).
SHELL := /bin/bash
VLLM ?= 0.33.0
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONDONTWRITEBYTECODE=1

.PHONY: demo test lint test-core test-matrix test-sglang test-e2e bench bench-quick parse-demo ci

# A real vLLM server (CPU, tiny random Qwen3) with the qwen_xml_safe plugin; a client streams a
# tool call and prints it as a user sees it; everything is stopped by PID.
demo:
	bash scripts/e2e/demo.sh

# The plugin through vLLM 0.33's ToolParserManager with a real Qwen tokenizer, the core, the
# serving layer, and the benchmark script in its quick mode (no end-to-end server tests), after
# mypy --strict and ruff check on the package (ci/lint.sh).
test:
	@venv=$$(bash ci/venv.sh $(VLLM)); \
	bash ci/lint.sh && \
	$$venv/bin/python -m pytest tests -m "not e2e" -p no:cacheprovider -q -ra && \
	$$venv/bin/python benchmarks/bench_streaming.py --quick

# mypy --strict and ruff check on the package (their own small venv, no vLLM needed).
lint:
	bash ci/lint.sh

# The core alone needs no vLLM: any Python with pytest and hypothesis.
test-core:
	python3 -m pytest tests/core -p no:cacheprovider -q

# The same suite on every other vLLM of ci/matrix.txt (0.10.2 ... 0.31.0).
# Two versions at a time (QXT_MATRIX_JOBS): the suite is single-threaded, so on 2 cores this halves
# the wall time (4 versions: 258 s against about 440 s one at a time, on an otherwise idle machine).
test-matrix:
	QXT_MATRIX_JOBS=$${QXT_MATRIX_JOBS:-2} bash ci/matrix.sh $$(bash ci/venv.sh --list | grep -vx '$(VLLM)')

# qwen_xml_safe as an SGLang 0.5.23 detector, through SGLang's own code on CPU (tests/sglang), in a
# light SGLang venv layered on the vLLM base (ci/sglang.sh), then the per-delta benchmark beside
# SGLang's qwen3_coder in its quick mode.
test-sglang:
	@venv=$$(bash ci/sglang.sh); \
	$$venv/bin/python -m pytest tests/sglang -p no:cacheprovider -q -ra && \
	$$venv/bin/python benchmarks/bench_sglang.py --quick

# End to end: real vLLM server, OpenAI / Anthropic SDKs, LiteLLM proxy, on loopback.
test-e2e:
	bash scripts/e2e/run-tests.sh -ra

# A bundled model output through the real plugin (the CLI's --vllm), delta by delta, without a server.
parse-demo:
	@venv=$$(bash ci/venv.sh $(VLLM)); \
	tok=$$($$venv/bin/python -m qxt_support.qwen_tokenizer); \
	$$venv/bin/python -m qwen_xml_toolparser parse examples/outputs/write_file.txt \
	    --tools examples/tools/coding_agent.json --stream --vllm --tokenizer $$tok

bench:
	@venv=$$(bash ci/venv.sh $(VLLM)); $$venv/bin/python benchmarks/bench_streaming.py

ci: test test-matrix test-sglang test-e2e demo
