"""The embedded model: a small GGUF model behind TGI's HTTP protocol, standing in for TGI."""
