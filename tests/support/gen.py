"""Random tool schemas, argument dicts and rendered assistant turns.

One generator, two sources of randomness: ``HypoSource`` (hypothesis ``draw``:
shrinkable, for the round-trip properties) and ``RandomSource``
(``random.Random``: seeded and fast, for fuzzing and split invariance).

What is generated:

* schemas: string, integer (values beyond 64 bits too), number (ints and
  floats), boolean, null, nullable (``type: [T, "null"]``, ``anyOf [T, null]``,
  OpenAPI ``nullable: true``), enums (strings, numeric-looking strings,
  integers; with and without ``type``), ``const``, objects with typed
  properties, free objects, arrays with typed items, free arrays, unions with
  string (``anyOf [string, T]`` / ``type: ["string", T]``), ``$ref`` into
  ``$defs``; calls may also use undeclared parameters (-> string) and
  undeclared functions; requests may have no tools at all (-> all strings);
* strings: hostile pieces (quotes, backslashes, Windows paths, regexes, tabs,
  leading/trailing spaces and newlines, CRLF, unicode, emoji, ZWJ sequences,
  control characters, JSON/None/number look-alikes, HTML, code with
  ``</parameter>``, ``<parameter=x>``, ``</function>``, ``</tool_call>``),
  random unicode text and multi-line code.

Excluded, by construction (see ``string_is_ambiguous``): a string value of a
union that allows string and another type, when the string is that other
type's rendering (docs/behaviour.md "Types": the more specific type wins on its
canonical JSON / Python ``str()`` rendering, and any text that parses as a JSON
or Python-literal object/array). Such strings are prefixed with ``~`` (which
makes them unambiguous) instead of being dropped, and counted.
"""

from __future__ import annotations

import ast
import json
import math
import random
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from tests.support.render import VARIANTS, JsonStyle, Rendered, ambiguity, render_turn

# ----------------------------------------------------------------------------- sources


class RandomSource:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def bool(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def float(self) -> float:
        k = self.rng.randrange(6)
        if k == 0:
            return self.rng.choice([0.0, -0.0, 0.5, -2.5, 1e20, 1e-7, 3.14, 1.7976931348623157e308, 5e-324])
        if k == 1:
            return float(self.rng.randint(-1000, 1000))
        if k == 2:
            return self.rng.uniform(-1e6, 1e6)
        return self.rng.uniform(-10, 10) * 10.0 ** self.rng.randint(-30, 30)

    def char(self) -> str:
        k = self.rng.randrange(4)
        if k == 0:
            return chr(self.rng.randint(0x20, 0x7E))
        if k == 1:
            return chr(self.rng.randint(0xA0, 0x24F))
        if k == 2:
            return chr(self.rng.choice([self.rng.randint(0x4E00, 0x9FFF), self.rng.randint(0x1F300, 0x1FAFF),
                                        self.rng.randint(0x0400, 0x04FF), self.rng.randint(0x0590, 0x06FF)]))
        c = self.rng.randint(0, 0x10FFFF)
        return chr(c) if unicodedata.category(chr(c)) not in ("Cs", "Cn", "Co") else "x"


class HypoSource:
    def __init__(self, draw) -> None:
        from hypothesis import strategies as st

        self.draw = draw
        self.st = st

    def int(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def choice(self, seq):
        return self.draw(self.st.sampled_from(seq))

    def bool(self, p: float = 0.5) -> bool:
        if p == 0.5:
            return self.draw(self.st.booleans())
        return self.draw(self.st.integers(0, 999)) < p * 1000

    def float(self) -> float:
        return self.draw(self.st.floats(allow_nan=False, allow_infinity=False))

    def char(self) -> str:
        return self.draw(self.st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn")))


# ----------------------------------------------------------------------------- strings

HOSTILE = [
    '"', "'", "\\", "\\\\", "\\n", "\\t", "\\u0041", '\\"', "C:\\Users\\me\\Documents\\file.txt",
    "C:\\code\\minions20", "\\\\server\\share\\x", "/tmp/a b/c.py", r"^\s*(\d+)\.(\w+)$", r"[a-z]+\b(?=x)",
    r"class BaseService\(", "\t", "  ", " ", "\n", "\r\n", "\n\n", "\r", "</parameter>", "<parameter=x>",
    "<parameter=path>", "</function>", "<function=f>", "</tool_call>", "<tool_call>", "</think>", "<think>",
    "<", ">", "&", "&&", "&lt;", "<b>", "</b>", "x<5", "a -> b", "é", "naïve", "格式", "你好世界", "👩‍💻",
    "😀", "🇺🇸", "\u200b", "\u00a0", "\u2028", "{", "}", "[", "]", '{"a": 1}', "{'a': True}", "[1, 2]",
    "null", "None", "true", "False", "42", "-7", "3.14", "1e3", "007", "```python\n", "```", "%s", "{{x}}",
    "${HOME}", "\x00", "\x1b[31m", "\x7f", "—", "'''", '"""', "</", "<parameter", "</parameter",
    "\n</parameter>\n", "\n</function>\n", "\n</tool_call>\n", "</parameter1>", "</ parameter>",
    "<parameter=x>\n", "\n<parameter=", "print('hi')", "    return 1\n", "def f():\n    return \"</parameter>\"\n",
]
WORDS = ["hello", "world", "path", "file", "value", "the", "code", "Tokyo", "x", "foo_bar", "README.md",
         "SELECT * FROM t", "git status", "ls -la", "name", "id", "München", "日本語"]


def gen_string(src, allow_empty: bool = True) -> str:
    k = src.int(0, 9)
    if k == 0 and allow_empty:
        return src.choice(["", " ", "\n", "\t", "\n\n", " \n "])
    if k <= 4:  # hostile pieces and words
        s = "".join(src.choice(HOSTILE) if src.bool(0.6) else src.choice(WORDS) for _ in range(src.int(1, 8)))
    elif k <= 6:  # random unicode
        s = "".join(src.char() for _ in range(src.int(1, 12)))
    elif k == 7:  # multi-line code
        lines = []
        for _ in range(src.int(1, 6)):
            indent = " " * src.choice([0, 0, 4, 8, 2]) if src.bool(0.8) else "\t"
            body = src.choice(WORDS + HOSTILE[:40])
            lines.append(indent + body if src.bool(0.85) else "")
        s = "\n".join(lines)
        if src.bool(0.3):
            s += "\n"
    elif k == 8:  # surrounding whitespace
        s = src.choice([" ", "\n", "\t", "  ", "\n\n", "\r\n"]) + src.choice(WORDS) + src.choice(
            [" ", "\n", "\t", "  ", "\n\n", ""])
    else:
        s = src.choice(WORDS)
    return unicodedata.normalize("NFC", s)


# ----------------------------------------------------------------------------- schemas

SCALARS = ("string", "integer", "number", "boolean")


def gen_name(src, kind: str = "param") -> str:
    first = src.choice(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"))
    rest_alpha = list("abcdefghijklmnopqrstuvwxyz0123456789_") + (["-", "."] if kind == "func" else ["_"])
    name = first + "".join(src.choice(rest_alpha) for _ in range(src.int(0, 10)))
    if kind == "func" and src.bool(0.1):
        name = "mcp__" + name + "__tool"
    return name


def gen_schema(src, depth: int = 0, defs: dict | None = None) -> dict:
    """A parameter schema (a subset of JSON Schema that ``gen_value`` understands)."""
    kinds = ["string", "string", "integer", "number", "boolean", "nullable", "enum", "union", "const"]
    if depth < 2:
        kinds += ["object", "array", "free_object", "free_array"]
        if defs is not None:
            kinds.append("ref")
    k = src.choice(kinds)
    if k in SCALARS:
        return {"type": k}
    if k == "nullable":
        inner = src.choice(["string", "integer", "number", "boolean", "object", "array"])
        form = src.int(0, 2)
        if form == 0:
            return {"type": [inner, "null"]}
        if form == 1:
            return {"anyOf": [{"type": inner}, {"type": "null"}]}
        return {"type": inner, "nullable": True}
    if k == "enum":
        form = src.int(0, 3)
        if form == 0:
            return {"type": "string", "enum": ["fahrenheit", "celsius", "a b", "x\ny"]}
        if form == 1:
            return {"enum": ["1", "2", "true", "null"]}
        if form == 2:
            return {"type": "integer", "enum": [1, 2, 3, 10 ** 20]}
        return {"enum": [0, 5, -3]}
    if k == "const":
        return {"const": src.choice(["fixed", "42"])} if src.bool() else {"type": "integer", "const": 7}
    if k == "union":
        other = src.choice(["integer", "number", "boolean", "null", "object", "array"])
        if src.bool():
            return {"anyOf": [{"type": "string"}, {"type": other}]}
        return {"type": ["string", other]}
    if k == "object":
        props = {gen_name(src): gen_schema(src, depth + 1, None) for _ in range(src.int(1, 4))}
        return {"type": "object", "properties": props}
    if k == "array":
        return {"type": "array", "items": gen_schema(src, depth + 1, None)}
    if k == "free_object":
        return {"type": "object"}
    if k == "free_array":
        return {"type": "array"}
    if k == "ref":
        assert defs is not None
        name = "Def" + str(len(defs))
        defs[name] = {"type": "object", "properties": {
            gen_name(src): {"type": src.choice(list(SCALARS))} for _ in range(src.int(1, 3))}}
        return {"$ref": f"#/$defs/{name}"}
    raise AssertionError(k)


def gen_tool(src) -> dict:
    defs: dict = {}
    props = {}
    for _ in range(0 if src.bool(0.1) else src.int(1, 5)):
        props[gen_name(src)] = gen_schema(src, 0, defs)
    params: dict = {"type": "object", "properties": props}
    if defs:
        params["$defs"] = defs
    if props and src.bool(0.5):
        params["required"] = [k for k in props if src.bool()]
    return {"type": "function", "function": {"name": gen_name(src, "func"), "description": "a tool",
                                             "parameters": params}}


# ----------------------------------------------------------------------------- values


def gen_json(src, depth: int = 0) -> Any:
    """Any JSON value (for free objects/arrays)."""
    k = src.int(0, 8 if depth < 2 else 5)
    if k == 0:
        return gen_string(src)
    if k == 1:
        return src.int(-(10 ** 25), 10 ** 25) if src.bool(0.3) else src.int(-100, 100)
    if k == 2:
        return src.float()
    if k == 3:
        return src.bool()
    if k == 4:
        return None
    if k == 5:
        return src.choice(WORDS)
    if k <= 6:
        return [gen_json(src, depth + 1) for _ in range(src.int(0, 3))]
    return {gen_name(src): gen_json(src, depth + 1) for _ in range(src.int(0, 3))}


def gen_int(src) -> int:
    k = src.int(0, 4)
    if k == 0:
        return src.choice([0, -1, 1, 2 ** 53 + 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64 + 7, 18446744073709551615])
    if k == 1:
        return src.int(-(10 ** 40), 10 ** 40)
    return src.int(-1000, 100000)


_CANON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")


def string_is_ambiguous(s: str, other: str) -> bool:
    """Would the parser read string ``s`` as type ``other`` under a union with
    string (docs/behaviour.md "Types")?"""
    if other == "integer":
        return bool(_CANON_INT.fullmatch(s)) and s != "-0"
    if other == "number":
        if _CANON_INT.fullmatch(s):
            return True
        try:
            f = float(s)
        except ValueError:
            return False
        return math.isfinite(f) and (repr(f) == s or json.dumps(f) == s)
    if other == "boolean":
        return s in ("true", "false", "True", "False")
    if other == "null":
        return s in ("null", "None")
    if other in ("object", "array"):
        t = s.strip()
        try:
            if isinstance(json.loads(t), (dict, list)):
                return True
        except Exception:
            pass
        if len(t) <= 65536:
            try:
                if isinstance(ast.literal_eval(t), (dict, list, tuple)):
                    return True
            except Exception:
                pass
    return False


@dataclass
class Stats:
    union_strings_disambiguated: int = 0


def _resolve(schema: dict, defs: dict) -> dict:
    ref = schema.get("$ref")
    if ref:
        return defs[ref.rsplit("/", 1)[-1]]
    return schema


def gen_value(src, schema: dict, defs: dict, stats: Stats) -> Any:
    schema = _resolve(schema, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return src.choice(schema["enum"])
    if "anyOf" in schema:
        types = [s.get("type") for s in schema["anyOf"]]
    else:
        t = schema.get("type")
        types = list(t) if isinstance(t, list) else [t]
        if schema.get("nullable"):
            types.append("null")
    t = src.choice(types)
    if t == "string" and len(types) > 1:
        s = gen_string(src)
        if any(string_is_ambiguous(s, o) for o in types if o != "string"):
            stats.union_strings_disambiguated += 1
            s = "~" + s
        return s
    sub = schema if "anyOf" not in schema else next(x for x in schema["anyOf"] if x.get("type") == t)
    return _gen_typed(src, t, sub, defs, stats)


def _gen_typed(src, t: str | None, schema: dict, defs: dict, stats: Stats) -> Any:
    if t == "string":
        return gen_string(src)
    if t == "integer":
        return gen_int(src)
    if t == "number":
        return gen_int(src) if src.bool(0.3) else src.float()
    if t == "boolean":
        return src.bool()
    if t == "null":
        return None
    if t == "object":
        props = schema.get("properties")
        if props is None:
            return {gen_name(src): gen_json(src, 1) for _ in range(src.int(0, 3))}
        return {k: gen_value(src, s, defs, stats) for k, s in props.items() if src.bool(0.8)}
    if t == "array":
        items = schema.get("items")
        n = src.int(0, 4)
        if items is None:
            return [gen_json(src, 1) for _ in range(n)]
        return [gen_value(src, items, defs, stats) for _ in range(n)]
    return gen_string(src)


# ----------------------------------------------------------------------------- turns


@dataclass
class Turn:
    tools: list[dict] | None
    content: str
    calls: list[tuple[str, dict]]  # (name, expected arguments)
    variant: str
    style: JsonStyle
    rendered: Rendered
    ambiguous: str | None
    stats: Stats = field(default_factory=Stats)

    @property
    def text(self) -> str:
        return self.rendered.text

    def describe(self) -> str:
        return (f"variant={self.variant} style={self.style} tools={json.dumps(self.tools, ensure_ascii=False)}\n"
                f"content={self.content!r}\ncalls={self.calls!r}\ntext={self.text!r}")


CONTENT_WORDS = ["I'll", "check", "the", "weather", "for", "you.", "Let", "me", "read", "a < b", "x>y",
                 "<b>bold</b>", "naïve", "日本語", "😀", "(see", "README.md)", "—", "50%", "\"quoted\"",
                 "C:\\path", "done.", "first", "then", "\n", "\n\n"]


def gen_content(src) -> str:
    if src.bool(0.5):
        return ""
    s = " ".join(src.choice(CONTENT_WORDS) for _ in range(src.int(1, 12)))
    return unicodedata.normalize("NFC", s.strip())


def gen_turn(src) -> Turn:
    stats = Stats()
    no_tools = src.bool(0.15)
    tools = None if no_tools else [gen_tool(src) for _ in range(src.int(1, 3))]
    calls: list[tuple[str, list[tuple[str, Any]]]] = []
    for _ in range(src.int(1, 3)):
        if tools is None or src.bool(0.07):  # no tools, or an undeclared function: all strings
            name = gen_name(src, "func")
            args = [(gen_name(src), gen_string(src)) for _ in range(src.int(0, 4))]
        else:
            tool = src.choice(tools)["function"]
            name = tool["name"]
            params = tool["parameters"]
            defs = params.get("$defs", {})
            args = [(k, gen_value(src, s, defs, stats)) for k, s in params["properties"].items()
                    if src.bool(0.75)]
            if src.bool(0.1):  # an undeclared parameter: a string
                k = gen_name(src)
                if k not in params["properties"]:
                    args.append((k, gen_string(src)))
            if src.bool(0.5):  # the model's order is not the schema's
                order = list(range(len(args)))
                perm = []
                while order:
                    perm.append(order.pop(src.int(0, len(order) - 1)))
                args = [args[i] for i in perm]
        seen: set[str] = set()
        args = [(k, v) for k, v in args if not (k in seen or seen.add(k))]
        calls.append((name, args))
    variant = src.choice(list(VARIANTS))
    style = JsonStyle(ensure_ascii=src.bool(0.2), compact=src.bool(0.2), indent=2 if src.bool(0.15) else None)
    content = gen_content(src)
    declared = None if tools is None else {t["function"]["name"]: tuple(t["function"]["parameters"]["properties"])
                                           for t in tools}
    rendered = render_turn(content, calls, variant, style, declared)
    amb = ambiguity(rendered)
    if amb is None and not unicodedata.is_normalized("NFC", rendered.text):
        amb = "rendered text is not NFC (the tokenizer would normalise it)"
    return Turn(tools, content, [(n, dict(a)) for n, a in calls], variant, style, rendered, amb, stats)


def random_turn(seed: int) -> Turn:
    """A non-ambiguous random turn from a seed (deterministic)."""
    rng = random.Random(seed)
    while True:
        t = gen_turn(RandomSource(rng))
        if t.ambiguous is None:
            return t
