# The two commands of the README's quick start: `make demo` and `make test`.
SHELL := /bin/bash
VLLM ?= 0.33.0
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONDONTWRITEBYTECODE=1

.PHONY: demo test test-core bench-quick

# Set up vLLM (CPU, cached) and stream a bundled model output through the real qwen_xml_safe plugin.
demo:
	@venv=$$(bash ci/venv.sh $(VLLM)); \
	tok=$$($$venv/bin/python -m tests.support.qwen_tokenizer); \
	$$venv/bin/python -m qwen_xml_toolparser parse examples/outputs/write_file.txt \
	    --tools examples/tools/coding_agent.json --stream --tokenizer $$tok

# Set up vLLM (CPU, cached) and run the test suite (everything but the end-to-end server tests).
test:
	@venv=$$(bash ci/venv.sh $(VLLM)); \
	$$venv/bin/python -m pytest tests -m "not e2e" -p no:cacheprovider -q -ra

# The core alone needs no vLLM: any Python with pytest and hypothesis.
test-core:
	python3 -m pytest tests/core -p no:cacheprovider -q
