"""hutchd's HTTP/JSON API on a unix socket: the wire format and the client.

Routes (all JSON; errors are `{"error": {"kind": ..., "message": ...}}` with an HTTP status
mapped from the `hutch.errors` class in one place):

    GET  /v1/ping                       daemon pid, version, running containers
    GET  /v1/containers                 what the daemon supervises
    POST /v1/containers/{id}/start
    POST /v1/containers/{id}/stop       {"timeout": seconds, "kill": bool}
    POST /v1/containers/{id}/restart    {"timeout": seconds}
    POST /v1/containers/{id}/freeze     every task stops (cgroup freezer)
    POST /v1/containers/{id}/unfreeze
    POST /v1/containers/{id}/settings   {"changes": {key: value}, "add": {key: [item]},
                                         "remove": {key: [item]}, "save": bool}
                                        -> {"applied": [key], "warnings", "saved", "grown"}
    GET  /v1/containers/{id}/console    Upgrade: hutch-console -> raw byte stream
"""
