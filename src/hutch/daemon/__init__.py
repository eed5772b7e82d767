"""hutchd, the host supervisor: parent and subreaper of container inits, holder of consoles.

Single-threaded (asyncio) so that forking a container init is always safe. Containers never
depend on it: kill it and they keep running; start it again and it re-adopts them.
"""
