"""`python -m scripts.add_instrument --symbol AAPL [--name ...]`
= `algotrader instruments add AAPL [--name ...]`."""

import sys

from scripts import run

if __name__ == "__main__":
    args = sys.argv[1:]
    # The seed passes the symbol as a flag; the CLI takes it as an argument.
    for flag in ("--symbol", "-s"):
        if flag in args and args.index(flag) + 1 < len(args):
            i = args.index(flag)
            args = [args[i + 1], *args[:i], *args[i + 2 :]]
            break
    run(["instruments", "add"], args)
