"""Stand-in for the `vllm` program in tests of the example serve scripts: writes its argv as
JSON to $ARGV_DUMP and exits. Use as VLLM="python3 scripts/e2e/argv_dump.py"."""

import json
import os
import sys

with open(os.environ["ARGV_DUMP"], "w") as f:
    json.dump(sys.argv[1:], f)
