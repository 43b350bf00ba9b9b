"""A search_core client written the way another team would write one: the .proto files, the
deployment's CA certificate and a token, nothing else of nasforge. The stubs are generated
from proto/ into a folder of the caller's with grpcio-tools; the channel is TLS that trusts
the CA (no client certificate: the public port asks for none), and calls carry the token as
`authorization: Bearer ...`.
"""

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"


def generate_stubs(output: Path) -> None:
    """Compile every .proto under proto/ into ``output`` and make it importable."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    status = protoc.main(
        ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={output}",
         f"--grpc_python_out={output}", *protos]
    )  # fmt: skip
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    for folder in output.rglob("*"):
        if folder.is_dir():
            (folder / "__init__.py").touch()


class TeamClient:
    """Blocking calls to SearchService with our own generated stubs."""

    def __init__(self, stubs: Path, target: str, token: str, ca_file: Path) -> None:
        # Our stubs live in their own top-level package name space; put them first.
        sys.path.insert(0, str(stubs))
        for name in [n for n in sys.modules if n == "nasforge" or n.startswith("nasforge.")]:
            del sys.modules[name]  # the test process may have imported nasforge's own copy
        self.pb = importlib.import_module("nasforge.search_core.v1.search_core_pb2")
        self.common = importlib.import_module("nasforge.common.v1.common_pb2")
        grpc_module = importlib.import_module("nasforge.search_core.v1.search_core_pb2_grpc")
        credentials = grpc.ssl_channel_credentials(root_certificates=ca_file.read_bytes())
        self._channel = grpc.secure_channel(target, credentials)
        self.stub = grpc_module.SearchServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)

    def close(self) -> None:
        self._channel.close()

    def submit(self, config: dict, request_id: str) -> str:
        """Submit a search described by a whole config (its `method` names the enum too)."""
        method = self.pb.SearchMethod.Value(f"SEARCH_METHOD_{config['method'].upper()}")
        spec = self.pb.SearchSpec(method=method, config_json=json.dumps(config))
        request = self.pb.SubmitSearchRequest(spec=spec, client_request_id=request_id)
        return self.stub.SubmitSearch(request, metadata=self._metadata, timeout=30).search_id

    def search(self, search_id: str):
        request = self.pb.GetSearchRequest(search_id=search_id)
        return self.stub.GetSearch(request, metadata=self._metadata, timeout=30).search

    def watch(self, search_id: str, after_sequence: int = 0) -> Iterator:
        request = self.pb.WatchSearchRequest(search_id=search_id, after_sequence=after_sequence)
        return self.stub.WatchSearch(request, metadata=self._metadata, timeout=3600)

    def candidates(self, search_id: str) -> list:
        found, token = [], ""
        while True:
            request = self.pb.ListCandidatesRequest(
                search_id=search_id, page_size=50, page_token=token
            )
            page = self.stub.ListCandidates(request, metadata=self._metadata, timeout=30)
            found += list(page.candidates)
            token = page.next_page_token
            if not token:
                return found

    def leaderboard(self, search_id: str, limit: int = 10) -> list:
        request = self.pb.GetLeaderboardRequest(search_id=search_id, limit=limit)
        return list(self.stub.GetLeaderboard(request, metadata=self._metadata, timeout=30).entries)

    def outcome_name(self, value: int) -> str:
        """The metric label spelling of an Outcome enum value (OUTCOME_SUCCESS -> success)."""
        return self.common.Outcome.Name(value).removeprefix("OUTCOME_").lower()

    def state_name(self, value: int) -> str:
        return self.pb.SearchState.Name(value)
