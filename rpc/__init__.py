"""What every nasforge service shares on the wire: serve(), auth, error mapping, metrics, clients."""
