"""`nasforge knowledge extract PAPER.txt | show`: grow a FairNAD design-knowledge tree.

`extract` sends the paper to the LLM through the gateway with the fixed
`design_knowledge_extract` template, parses the JSON answer and merges its ideas into the
named tree in the store (starting from the shipped default), deduplicating them.
A FairNAD search uses it with `[fairnad] knowledge_tree = "NAME"`.
"""

import argparse
import asyncio
import json
from pathlib import Path

from cli.common import (
    UsageError,
    add_connection_arguments,
    add_store_argument,
    connection_from_args,
    open_store,
)

MAX_PAPER_CHARS = 60_000


def register(commands) -> None:
    knowledge = commands.add_parser("knowledge", help="FairNAD design-knowledge trees")
    sub = knowledge.add_subparsers(
        dest="knowledge_command", required=True, parser_class=type(knowledge)
    )
    extract = sub.add_parser("extract", help="ask the LLM for a paper's design ideas and merge")
    extract.add_argument("paper", type=Path, help="the paper as plain text")
    extract.add_argument("--title", default="", help="the paper's title (default: file name)")
    extract.add_argument("--tree", default="extracted", help="tree to merge into")
    extract.add_argument("--model", default="", help="gateway model (default: the stack's)")
    extract.add_argument("--max-new-tokens", type=int, default=1500)
    add_connection_arguments(extract, "--gateway", "llm_gateway", client_certificate=True)
    show = sub.add_parser("show", help="categories and attribute counts of a tree")
    show.add_argument("--tree", default="", help="stored tree (default: the shipped one)")
    for parser in (extract, show):
        add_store_argument(parser)
        parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from search_core.knowledge.extraction import ExtractionError
    from search_core.knowledge.stored import merge_extraction, stored_tree

    store = open_store(args)
    try:
        if args.knowledge_command == "show":
            tree = stored_tree(store, args.tree)
            for category in tree.categories:
                print(f"{category.name}: {len(category.attributes)} attributes")
            print(f"{len(tree)} attributes in {len(tree.categories)} categories")
            return 0
        answer = asyncio.run(_ask(args))
        try:
            tree, report = merge_extraction(
                store, args.tree, answer, source=args.title or args.paper.stem
            )
        except ExtractionError as exc:
            print(f"nasforge: the model's answer was not a usable tree: {exc}")
            return 1
        print(
            json.dumps(
                {
                    "tree": args.tree,
                    "added": [f"{i.category.name}/{i.attribute.name}" for i in report.added],
                    "enriched": [f"{i.category.name}/{i.attribute.name}" for i in report.enriched],
                    "attributes": len(tree),
                },
                indent=2,
            )
        )
        return 0
    finally:
        store.close()


async def _ask(args: argparse.Namespace) -> str:
    from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
    from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
    from rpc.client import open_channel

    try:
        text = args.paper.read_text(errors="replace")[:MAX_PAPER_CHARS]
    except OSError as exc:
        raise UsageError(f"cannot read {args.paper}: {exc.strerror}") from exc
    target, token, tls = connection_from_args(args, "llm_gateway")
    model = args.model
    channel = open_channel(target, token=token, tls=tls, default_timeout_seconds=1800)
    try:
        stub = pb_grpc.LlmGatewayServiceStub(channel)
        if not model:
            model = (await stub.ListModels(pb.ListModelsRequest())).models[0].name
        response = await stub.Generate(
            pb.GenerateRequest(
                model=model,
                prompt=pb.PromptSelection(
                    name="design_knowledge_extract",
                    variables={"paper_title": args.title or args.paper.stem, "paper_text": text},
                ),
                parameters=pb.GenerationParameters(
                    max_new_tokens=args.max_new_tokens, temperature=0.2
                ),
            )
        )
    finally:
        await channel.close()
    return response.analysis.content or response.text
