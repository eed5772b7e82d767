"""CRIU, the checkpoint/restore tool hutch drives: where it is (binary.py), whether it works
here (readiness.py), and running it with its log turned into one-line errors (run.py)."""
