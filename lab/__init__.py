"""The local HA lab: a loopback replica of the production database topology.

etcd, three Patroni-managed PostgreSQL nodes, HAProxy (a write port routed to the leader, a read port
routed to the replicas) and an OpenBao server (Vault API, persistent), all bound to 127.0.0.1, all started and
stopped by PID from a state directory. `python -m lab --help` lists the commands; `lab.cluster.Lab` is
the API the tests and the benchmark use.
"""
