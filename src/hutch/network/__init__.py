"""Container networking: venet, veth+bridge, macvlan, vlan, phys, empty, host; NAT, forwards.

    spec        the typed values: Netif, Forward, NetworkPlan (NetifPlan, VenetPlan),
                NetRecord (what the host holds while a container runs), Port
    names       the host-end names and MACs hutch makes up, stable per container
    plan        NetworkPlan from parsed specs (pure); hutch.container.netplan feeds it
    modes       one module per mode behind one interface (veth, macvlan, vlan, venet,
                phys; host: no namespace of its own)
    setup       applies a plan with netlink in worker processes: start, adopt after a
                restore, live reconcile, stop
    nat         port forwards and masquerade (nftables); portfilter: anti-spoofing
    resolv      /etc/resolv.conf; loopback: `lo` up without netlink

Below hutch.config: nothing here reads a ContainerConfig.
"""
