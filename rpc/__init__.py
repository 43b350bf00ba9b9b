"""What every nasforge service shares on the wire: serve(), auth, errors, metrics, clients."""
