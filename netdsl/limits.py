"""netdsl's size limits on hostile or mistaken input, in one place (no stage of its own): each is
checked before the work or the allocation it guards, and exceeding one is a diagnostic (E001 for a
source file, E215 for everything in the program), never a hang, a MemoryError or a traceback.
Elaboration's own step, depth and graph limits live beside the Budget in elaborator/scope.py."""

from __future__ import annotations

MAX_SOURCE_BYTES = 1_000_000  # one .net file (the zoo's largest is ~10 kB); regular files only
MAX_NUMBERS = 50_000  # number literals in one source, counted before parsing (~3 s of parse)
MAX_TOKENS = 100_000  # words and symbols in one source outside comments, counted before parsing
MAX_USE_DEPTH = 100  # `use` chains: a.net uses b.net uses ... (the Python stack is not the limit)
MAX_INT = 2**63 - 1  # integers, literal or computed: what an ONNX int64 attribute holds
MAX_DIGITS = 40  # a literal longer than this is too large anyway; not converted (4,300-digit rule)
MAX_STRING = 100_000  # characters in a string value
MAX_LIST = 1_000_000  # items in a list value (nested lists count every item)
MAX_NESTING = 150  # lists and tables in lists and tables: a loop's `k = [k]`, as MAX_DEPTH
MAX_TENSOR_ELEMENTS = 2**31  # elements of one activation or parameter (8 GiB as float32)
MAX_TOTAL_PARAMS = 500_000_000  # parameters of a network: ONNX files (protobuf) stop at 2 GiB
MAX_BATCH = 65_536  # `run --batch` and compile's batch size
MAX_WEIGHTS_BYTES = 2**31  # what a weight file's headers declare, all together (inflated)
