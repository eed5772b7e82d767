"""`hutch migrate ID HOST [--online]`: move a container to another host running hutch, over ssh.

    transport.py   the ssh connection (one ControlMaster; every remote call reuses it) and
                   rsync through it
    progress.py    progress lines on stderr, timings, and the test-only pause hook
    receive.py     the target's side, run there as `hutch receive ...` (hidden verb)
    protocol.py    the steps: checks, offline (stop, copy, adopt, start) and online (copy
                   while running, checkpoint, final copy, restore), each undone on failure

The rule of every path: until the target runs the container, the source keeps (or gets back)
its container, and the target is left without a half container.
"""
