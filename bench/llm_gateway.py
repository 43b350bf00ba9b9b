"""The gateway's overhead: the same requests through the gateway and straight to the same
TGI-protocol server with the text-generation client, at 1 and 32 concurrent streams.

    .venv/bin/python -m bench.llm_gateway [--upstream peer|embedded] [--concurrency 1,32]

The upstream is a separate process: by default the canned TGI peer of the tests (a real
HTTP server that streams a fixed answer at a steady rate, like a TGI under load), or the
embedded model server. The gateway is `python -m llm_gateway`, another process. Both paths
send byte-identical requests upstream (the gateway's own rendering and parameters); rounds
alternate direct/gateway to cancel drift. Reported per concurrency: median and p95 latency
of a whole answer, median time to first token, the median latency the gateway adds, and
throughput (tokens a second over all streams) through the gateway relative to direct.
"""

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from text_generation import AsyncClient

from llm_gateway.backends.tgi import TgiBackend
from llm_gateway.chat_templates import render_chat
from llm_gateway.domain import ChatTurn, Sampling, UpstreamRequest
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.client import open_channel

REPO_ROOT = Path(__file__).resolve().parents[1]
MESSAGES = (ChatTurn("user", "Write a small convolutional network for CIFAR-10."),)


@dataclass
class Round:
    """The measurements of one round of one path."""

    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    tokens: int = 0
    wall: float = 0.0


def _start(args: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen, str]:
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith(ready):
        process.kill()
        log.seek(0)
        raise SystemExit(f"{args[1]} did not start: {line!r}\n{log.read()[-2000:]}")
    return process, line.rsplit(" ", 1)[1]


async def _direct_stream(client: AsyncClient, prompt: str, arguments: dict, result: Round) -> None:
    started = time.perf_counter()
    first = None
    async for _event in client.generate_stream(prompt, **arguments):
        if first is None:
            first = time.perf_counter() - started
        result.tokens += 1
    result.latencies.append(time.perf_counter() - started)
    result.first_tokens.append(first)


async def _gateway_stream(stub, request: pb.GenerateStreamRequest, result: Round) -> None:
    started = time.perf_counter()
    first = None
    async for piece in stub.GenerateStream(request):
        if first is None:
            first = time.perf_counter() - started
        if piece.text:
            result.tokens += 1
    result.latencies.append(time.perf_counter() - started)
    result.first_tokens.append(first)


async def _round(concurrency: int, per_stream: int, one, spread: float = 0.0) -> Round:
    """``concurrency`` streams of ``per_stream`` requests each; with a ``spread``, stream i
    starts i/concurrency of it late (a steady load rather than a lock-step burst)."""
    result = Round()

    async def stream(offset: float) -> None:
        await asyncio.sleep(offset)
        for _ in range(per_stream):
            await one(result)

    started = time.perf_counter()
    await asyncio.gather(*(stream(i * spread / concurrency) for i in range(concurrency)))
    result.wall = time.perf_counter() - started
    return result


def _merge(rounds: list[Round]) -> Round:
    merged = Round()
    for item in rounds:
        merged.latencies += item.latencies
        merged.first_tokens += item.first_tokens
        merged.tokens += item.tokens
        merged.wall += item.wall
    return merged


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


async def measure(
    url: str,
    target: str,
    concurrency: int,
    per_stream: int,
    rounds: int,
    tokens: int,
    spread: float = 0.0,
) -> dict:
    sampling = Sampling(max_new_tokens=tokens)
    upstream = UpstreamRequest(MESSAGES, render_chat("chatml", MESSAGES), sampling)
    arguments = TgiBackend.arguments(upstream)
    client = AsyncClient(url, timeout=300)
    request = pb.GenerateStreamRequest(
        model="bench",
        messages=[pb.ChatMessage(role=t.role, content=t.content) for t in MESSAGES],
        parameters=pb.GenerationParameters(max_new_tokens=tokens),
    )
    async with open_channel(target, token=None, default_timeout_seconds=300) as channel:
        stub = pb_grpc.LlmGatewayServiceStub(channel)
        direct, gateway = [], []
        # One warm-up round each, then alternate which path goes first.
        await _round(
            concurrency, 1, lambda r: _direct_stream(client, upstream.prompt_text, arguments, r)
        )
        await _round(concurrency, 1, lambda r: _gateway_stream(stub, request, r))
        for index in range(rounds):
            paths = [
                (direct, lambda r: _direct_stream(client, upstream.prompt_text, arguments, r)),
                (gateway, lambda r: _gateway_stream(stub, request, r)),
            ]
            for sink, one in paths if index % 2 == 0 else reversed(paths):
                sink.append(await _round(concurrency, per_stream, one, spread))
    direct, gateway = _merge(direct), _merge(gateway)
    report = {
        "concurrency": concurrency,
        "arrivals": "staggered" if spread else "lock-step",
        "requests_per_path": len(direct.latencies),
        "direct_median_ms": statistics.median(direct.latencies) * 1000,
        "gateway_median_ms": statistics.median(gateway.latencies) * 1000,
        "direct_p95_ms": _p95(direct.latencies) * 1000,
        "gateway_p95_ms": _p95(gateway.latencies) * 1000,
        "direct_ttft_median_ms": statistics.median(direct.first_tokens) * 1000,
        "gateway_ttft_median_ms": statistics.median(gateway.first_tokens) * 1000,
        "direct_tokens_per_s": direct.tokens / direct.wall,
        "gateway_tokens_per_s": gateway.tokens / gateway.wall,
    }
    report["added_median_ms"] = report["gateway_median_ms"] - report["direct_median_ms"]
    report["added_ttft_ms"] = report["gateway_ttft_median_ms"] - report["direct_ttft_median_ms"]
    report["throughput_ratio"] = report["gateway_tokens_per_s"] / report["direct_tokens_per_s"]
    return report


def _summary(report: dict) -> str:
    r = report
    return (
        f"{r['concurrency']:>3} streams, {r['arrivals']:<9}: latency median "
        f"{r['direct_median_ms']:.1f} -> "
        f"{r['gateway_median_ms']:.1f} ms (added {r['added_median_ms']:+.2f} ms), "
        f"p95 {r['direct_p95_ms']:.1f} -> {r['gateway_p95_ms']:.1f} ms, first token "
        f"{r['direct_ttft_median_ms']:.1f} -> {r['gateway_ttft_median_ms']:.1f} ms, throughput "
        f"{r['direct_tokens_per_s']:.0f} -> {r['gateway_tokens_per_s']:.0f} tok/s "
        f"(ratio {r['throughput_ratio']:.3f})"
    )


def _upstream(kind: str, tokens: int, token_delay: float) -> tuple[subprocess.Popen, str]:
    if kind == "peer":
        words = str(tokens * 2)  # more than asked for: every answer ends by length
        args = ["-m", "tests.integration.llm_gateway.tgi_peer", "0", words, str(token_delay)]
        return _start(args, {}, "tgi peer listening on")
    process, port = _start(
        ["-m", "llm_gateway.embedded"],
        {"NASFORGE_EMBEDDED_PORT": "0", "NASFORGE_EMBEDDED_THREADS": "1"},
        "embedded model server listening on port",
    )
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", choices=("peer", "embedded"), default="peer")
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--tokens", type=int, default=64, help="max_new_tokens of each request")
    parser.add_argument("--token-delay", type=float, default=0.02, help="peer: seconds a token")
    parser.add_argument(
        "--requests", type=int, default=32, help="at least this many requests per path"
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds per path, alternating")
    args = parser.parse_args()
    upstream, url = _upstream(args.upstream, args.tokens, args.token_delay)
    models = [{"name": "bench", "backend": "tgi", "url": url, "max_concurrent_requests": 64}]
    gateway, port = _start(
        ["-m", "llm_gateway"],
        {
            "NASFORGE_GATEWAY_PORT": "0",
            "NASFORGE_GATEWAY_PLAINTEXT": "true",
            "NASFORGE_GATEWAY_ALLOW_ANONYMOUS_TENANT": "bench",
            "NASFORGE_GATEWAY_MODELS": json.dumps(models),
            "NASFORGE_GATEWAY_TENANT_LIMITS": json.dumps(
                {"bench": {"requests_per_second": 10000, "burst": 10000, "daily_tokens": 10**12}}
            ),
        },
        "llm_gateway listening on port",
    )
    try:
        answer_seconds = args.tokens * args.token_delay
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            per_stream = math.ceil(args.requests / (concurrency * args.rounds))
            # Lock-step: every stream starts at once (the worst case); staggered: a steady
            # load of the same number of streams, as a busy server sees it.
            for spread in (0.0, answer_seconds) if concurrency > 1 else (0.0,):
                report = asyncio.run(
                    measure(
                        url,
                        f"127.0.0.1:{port}",
                        concurrency,
                        per_stream,
                        args.rounds,
                        args.tokens,
                        spread,
                    )
                )
                print(_summary(report), flush=True)
                print(json.dumps({"upstream": args.upstream, **report}), flush=True)
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
