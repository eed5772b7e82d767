"""What this host offers hutch: kernel features, probed for real (`hutch checkconfig`)."""
