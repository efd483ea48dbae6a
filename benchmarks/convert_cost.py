"""What converting `ast` trees to libcst nodes costs next to libcst's parse, on the texts the
engine parses with libcst (one-off measurement for the ast -> libcst converter).

    python benchmarks/convert_cost.py record APP texts.json   # run the engine, keep the texts
    python benchmarks/convert_cost.py time texts.json         # libcst parse vs ast + convert
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import sys
import time
from typing import List


def record(app: str, out: str) -> None:
    from flake8_fastapi_bg import cli, libcst_compat

    texts: List[str] = []
    original = libcst_compat.parse_module_unvalidated

    def recording(source: "str | bytes") -> object:
        texts.append(source if isinstance(source, str) else source.decode("utf-8", "replace"))
        return original(source)

    libcst_compat.parse_module_unvalidated = recording  # type: ignore[assignment]
    here = os.getcwd()
    os.chdir(app)
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["--no-cache", "--format", "json", "."])
    os.chdir(here)
    with open(out, "w") as stream:
        json.dump(texts, stream)
    print(f"{len(texts)} texts, {sum(map(len, texts))} characters")


def timing(path: str) -> None:
    from flake8_fastapi_bg import convert, libcst_compat

    with open(path) as stream:
        texts = json.load(stream)
    readable = []
    for text in texts:
        try:
            ast.parse(text)
            readable.append(text)
        except SyntaxError:  # newer syntax than this Python's `ast`: libcst parses it either way
            pass
    print(f"{len(texts) - len(readable)} of {len(texts)} texts left out: this Python's ast cannot read them")
    texts = readable
    best = {}
    for _ in range(3):
        start = time.process_time()
        for text in texts:
            libcst_compat.parse_module_unvalidated(text)
        parse = time.process_time() - start
        start = time.process_time()
        trees = [ast.parse(text) for text in texts]
        ast_time = time.process_time() - start
        start = time.process_time()
        failed = 0
        for text, tree in zip(texts, trees):
            try:
                convert.convert(tree.body, text.splitlines(keepends=True))
            except convert.Unconvertible:
                failed += 1
        conv = time.process_time() - start
        for key, value in (("libcst parse", parse), ("ast parse", ast_time), ("convert", conv)):
            best[key] = min(best.get(key, value), value)
    for key, value in best.items():
        print(f"{key:14} {value:.3f} s")
    print(f"ast + convert  {best['ast parse'] + best['convert']:.3f} s "
          f"({(best['ast parse'] + best['convert']) / best['libcst parse']:.0%} of libcst's parse); "
          f"unconvertible groups: {failed} of {len(texts)}")


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3])
    else:
        timing(sys.argv[2])
