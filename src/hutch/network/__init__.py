"""Container networking: venet, veth+bridge, macvlan, vlan, phys, empty, host; NAT, forwards."""
