"""hutch's command line: vzctl-like verbs, one module each; thin (parse, call, print)."""
