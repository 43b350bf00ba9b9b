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

from cli.train import UsageError

MAX_PAPER_CHARS = 60_000


def add_parser(commands) -> None:
    from cli.stack import add_tls_arguments

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
    extract.add_argument("--gateway", help="llm_gateway address (default: the local stack)")
    extract.add_argument("--token-file", type=Path, help="file holding the bearer token")
    add_tls_arguments(extract, client_certificate=True)
    show = sub.add_parser("show", help="categories and attribute counts of a tree")
    show.add_argument("--tree", default="", help="stored tree (default: the shipped one)")
    for parser in (extract, show):
        parser.add_argument("--store", help="store URL (default: $NASFORGE_SEARCH_STORE_URL)")
        parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from cli.zoo import open_store_for
    from search_core.domain import KnowledgeTreeRecord
    from search_core.knowledge.tree import KnowledgeTree

    store = open_store_for(args)
    try:
        name = args.tree
        record = store.get_knowledge_tree(name) if name else None
        tree = KnowledgeTree.from_dict(record.document) if record else KnowledgeTree.default()
        if args.knowledge_command == "show":
            for category in tree.categories:
                print(f"{category.name}: {len(category.attributes)} attributes")
            print(f"{len(tree)} attributes in {len(tree.categories)} categories")
            return 0
        answer = asyncio.run(_ask(args))
        from search_core.knowledge.extraction import ExtractionError, merge_answer

        try:
            report = merge_answer(tree, answer, source=args.title or args.paper.stem)
        except ExtractionError as exc:
            print(f"nasforge: the model's answer was not a usable tree: {exc}")
            return 1
        store.put_knowledge_tree(KnowledgeTreeRecord(name, tree.to_dict()))
        print(
            json.dumps(
                {
                    "tree": name,
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
    from cli.stack import connection, tls_from_args

    target, token, tls = connection(
        "llm_gateway",
        args.gateway,
        args.token_file,
        tls=tls_from_args(args),
        plaintext=args.plaintext,
    )
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
