"""The lock-down a create must carry through docker_proxy (docker-py's create_host_config
keywords), for tests that create containers through the proxy by hand."""

LOCKDOWN = {
    "network_mode": "none",
    "cap_drop": ["ALL"],
    "read_only": True,
    "security_opt": ["no-new-privileges:true"],
    "pids_limit": 64,
    "mem_limit": 256 * 1024**2,
}
