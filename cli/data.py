"""`nasforge data add|list|show`: the datasets searches can name, through the public API.

`add` registers files that lie on the trainer's machine (under compose: below the
folder mounted at /datasets): the trainer reads them whole, verifies them (counts, each
file's sha256, the published checksums where the format has them), prepares them once
and only then records the dataset. Without --target the local stack is used.
"""

import argparse
import asyncio
import json

from google.protobuf.json_format import MessageToDict

from cli.common import add_connection_arguments, connection_from_args
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import open_channel

FORMATS = ("cifar10", "cifar100", "imagenet16", "coco-captions", "image-folder", "coco-format")


def register(commands) -> None:
    data = commands.add_parser("data", help="register and list datasets (a search_core client)")
    sub = data.add_subparsers(dest="data_command", required=True, parser_class=type(data))
    add = sub.add_parser("add", help="register a dataset from files on the trainer's machine")
    add.add_argument("name", help="the name searches use, e.g. cifar10")
    add.add_argument("path", help="file or folder as the trainer sees it")
    add.add_argument("--format", required=True, choices=FORMATS)
    add.add_argument("--download", action="store_true", help="download first (CIFAR only)")
    add.add_argument("--replace", action="store_true", help="replace a dataset of this name")
    listing = sub.add_parser("list", help="every dataset a search can name")
    show = sub.add_parser("show", help="one dataset: counts, classes, checksums")
    show.add_argument("name")
    for parser in (add, listing, show):
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_connection_arguments(parser, "--target", "search_core", client_certificate=False)
        parser.set_defaults(handler=run_data_command)


def run_data_command(args: argparse.Namespace) -> int:
    target, token, tls = connection_from_args(args, "search_core")

    async def call():
        # Registration reads and prepares every file: minutes for CIFAR, more for COCO.
        async with open_channel(target, token=token, tls=tls, default_timeout_seconds=3600) as ch:
            stub = pb_grpc.SearchServiceStub(ch)
            if args.data_command == "add":
                request = common_pb2.AddDatasetRequest(
                    name=args.name,
                    format=args.format,
                    path=args.path,
                    download=args.download,
                    replace=args.replace,
                )
                return [(await stub.AddDataset(request)).dataset]
            if args.data_command == "show":
                request = common_pb2.GetDatasetRequest(name=args.name)
                return [(await stub.GetDataset(request)).dataset]
            return list((await stub.ListDatasets(common_pb2.ListDatasetsRequest())).datasets)

    datasets = asyncio.run(call())
    if args.json:
        documents = [MessageToDict(d, preserving_proto_field_name=True) for d in datasets]
        print(json.dumps(documents if args.data_command == "list" else documents[0], indent=1))
    elif args.data_command == "list":
        for dataset in datasets:
            print(_line(dataset))
    else:
        print(_details(datasets[0]))
    return 0


def _line(dataset: common_pb2.Dataset) -> str:
    counts = " ".join(f"{split}={n}" for split, n in sorted(dataset.counts.items()))
    kind = "built in" if dataset.builtin else dataset.format
    return f"{dataset.name:<20} {dataset.task:<19} {kind:<14} {counts}"


def _details(dataset: common_pb2.Dataset) -> str:
    size = f"{dataset.native_height}x{dataset.native_width}" if dataset.native_height else "varies"
    lines = [
        f"{dataset.name}: {dataset.task}, format {dataset.format}"
        + (" (built in)" if dataset.builtin else ""),
        f"  path        {dataset.path}",
        "  items       " + ", ".join(f"{s} {n}" for s, n in sorted(dataset.counts.items())),
        f"  images      {dataset.channels} channel(s), {size}",
        f"  outputs     {dataset.outputs} "
        + ("classes" if dataset.task == "img-classification" else "words"),
        f"  transform   {dataset.default_transform} by default",
        f"  digest      {dataset.digest}",
    ]
    if dataset.classes:
        shown = ", ".join(dataset.classes[:10]) + (" ..." if len(dataset.classes) > 10 else "")
        lines.append(f"  classes     {shown}")
    lines += [f"  checksum    {name}: {verdict}" for name, verdict in dataset.published.items()]
    lines += [f"  file        {name} sha256 {digest}" for name, digest in dataset.files.items()]
    lines += [f"  note        {note}" for note in dataset.notes]
    return "\n".join(lines)
