"""nasforge's Python client: submit searches, watch them, read their candidates and
leaderboards, download weights, through the public API (search_core's SearchService).

    from nasforge.client import ClientTLS, SearchClient

    with SearchClient("127.0.0.1:50051", token, tls=ClientTLS(ca_file=ca)) as client:
        search_id = client.submit("search.toml")
        for event in client.watch(search_id):
            ...
        best = client.leaderboard(search_id, limit=3)

``AsyncSearchClient`` has the same methods, awaited (``watch`` an async iterator).

Answers are the API's protobuf messages (``pb.Search``, ``pb.Candidate``,
``pb.LeaderboardEntry``, ...), not copies in dataclasses: proto/ is the documented
contract (every field commented there), new fields reach callers without a client release,
and ``google.protobuf.json_format.MessageToDict`` turns any of them into plain data.
``state_name``, ``method_name`` and ``outcome_name`` spell their enums as the CLI does.

A refused call raises one of the errors below, each with the server's ``message``, so
callers need not import grpc.
"""

from nasforge.client.aio import AsyncSearchClient
from nasforge.client.calls import method_name, outcome_name, state_name
from nasforge.client.errors import (
    ClientError,
    DeadlineExceeded,
    DownloadMismatch,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from nasforge.client.sync import SearchClient
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from rpc.client import ClientTLS

__all__ = [
    "AsyncSearchClient",
    "ClientError",
    "ClientTLS",
    "DeadlineExceeded",
    "DownloadMismatch",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "SearchClient",
    "Unauthenticated",
    "Unavailable",
    "common_pb2",
    "method_name",
    "outcome_name",
    "pb",
    "state_name",
]
