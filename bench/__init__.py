"""Benchmarks, run as modules from the repository root (``python -m bench.eval_bench``; make bench,
make bench-lab, make bench-stacks): the figures in the README and docs/."""
