/*
 * schema_network.c - migration 5: tenant networks (src/network).
 *
 * Design notes (docs/internals/controller-network.md has the whole picture)
 * ------------
 * networks: a tenant's L2 segment.  vni is the VXLAN id every host uses for
 * it, allocated by the controller inside the create's write transaction
 * (the smallest free >= 1000; UNIQUE is the last line of defence).
 * router_mac is derived from the id (the same on every host).  external =
 * 1 marks an admin's network whose subnet hands out floating IPs; it is
 * visible to every project.
 *
 * subnets: an IPv4 CIDR of a network (canonical text, host bits zero), its
 * gateway, DNS servers and allocation pools (JSON text: ["1.2.3.4"] and
 * [{"start": "...", "end": "..."}]).  net_first/net_last are the CIDR's
 * first and last addresses as integers, for overlap checks.
 *
 * ports: an address on a subnet: ip (text) and ip_int (the same as an
 * integer, for IPAM), mac.  UNIQUE (subnet_id, ip) and UNIQUE mac make a
 * double allocation impossible even if the transaction logic were wrong.
 * instance_id/host_id are set for an instance's NIC (no foreign key: the
 * instance row outlives its ports, which are deleted when it is deleted).
 * hostname is the DNS name of an instance's port.
 *
 * security_groups / security_group_rules: direction ingress|egress,
 * protocol any|tcp|udp|icmp, port_min/port_max for tcp/udp only (NULL =
 * every port), at most one of remote_cidr / remote_group_id.
 * port_security_groups: which groups apply to a port.
 *
 * floating_ips: an address of an external network's subnet owned by a
 * project, associated with at most one port (port_id UNIQUE; fixed_ip is
 * the port's address at association).
 */
const char store_schema_v5_network[] =
    "CREATE TABLE networks ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  vni INTEGER NOT NULL UNIQUE CHECK (vni BETWEEN 1 AND 16777215),"
    "  mtu INTEGER NOT NULL,"
    "  external INTEGER NOT NULL DEFAULT 0,"
    "  router_mac TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"

    "CREATE TABLE subnets ("
    "  id TEXT PRIMARY KEY,"
    "  network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  cidr TEXT NOT NULL,"
    "  net_first INTEGER NOT NULL,"
    "  net_last INTEGER NOT NULL,"
    "  gateway TEXT,"
    "  dns_servers TEXT NOT NULL DEFAULT '[]',"
    "  allocation_pools TEXT NOT NULL DEFAULT '[]',"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX subnets_network ON subnets (network_id);"

    "CREATE TABLE ports ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,"
    "  subnet_id TEXT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  instance_id TEXT,"
    "  host_id TEXT,"
    "  hostname TEXT,"
    "  mac TEXT NOT NULL UNIQUE,"
    "  ip TEXT NOT NULL,"
    "  ip_int INTEGER NOT NULL,"
    "  device_owner TEXT NOT NULL DEFAULT '',"
    "  port_security INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (subnet_id, ip));"
    "CREATE INDEX ports_instance ON ports (instance_id);"
    "CREATE INDEX ports_host ON ports (host_id);"
    "CREATE INDEX ports_network ON ports (network_id);"

    "CREATE TABLE security_groups ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"

    "CREATE TABLE security_group_rules ("
    "  id TEXT PRIMARY KEY,"
    "  security_group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  direction TEXT NOT NULL CHECK (direction IN ('ingress', 'egress')),"
    "  protocol TEXT NOT NULL CHECK (protocol IN ('any', 'tcp', 'udp', 'icmp')),"
    "  port_min INTEGER,"
    "  port_max INTEGER,"
    "  remote_cidr TEXT,"
    "  remote_group_id TEXT REFERENCES security_groups(id) ON DELETE CASCADE,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);"

    "CREATE TABLE port_security_groups ("
    "  port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,"
    "  security_group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (port_id, security_group_id));"
    "CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);"

    "CREATE TABLE floating_ips ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  network_id TEXT NOT NULL REFERENCES networks(id),"
    "  subnet_id TEXT NOT NULL REFERENCES subnets(id),"
    "  ip TEXT NOT NULL UNIQUE,"
    "  ip_int INTEGER NOT NULL,"
    "  port_id TEXT UNIQUE REFERENCES ports(id) ON DELETE SET NULL,"
    "  fixed_ip TEXT,"
    "  created_at TEXT NOT NULL);"

    /* The host agent's VXLAN endpoint (docs/internals/networking.md). */
    "ALTER TABLE hosts ADD COLUMN underlay_ip TEXT;";
