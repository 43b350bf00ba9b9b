"""The gateway's prompt library: versioned template files and their renderer."""
