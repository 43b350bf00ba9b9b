"""The LlmGatewayService servicer: pb -> domain, await the gateway, domain -> pb."""

import time

from llm_gateway.core import LlmGateway
from llm_gateway.domain import (
    Analysis,
    AnswerKind,
    ChatTurn,
    Constraint,
    FinishReason,
    Generation,
    GenerationRequest,
    ModelIdentity,
    PromptSelection,
    Sampling,
    TokenPiece,
)
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.convert import finding_to_pb, outcome_to_pb, task_spec_from_pb
from rpc.errors import InvalidArgument
from rpc.server import ServiceBinding, bind
from rpc.tenant import current_tenant

MAX_MODEL_CHARS = 100

_FINISH = {
    FinishReason.EOS: pb.FINISH_REASON_EOS,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.STOP_SEQUENCE: pb.FINISH_REASON_STOP_SEQUENCE,
}
_KIND_TO_PB = {
    AnswerKind.TEXT: pb.ANSWER_KIND_TEXT,
    AnswerKind.NET_CODE: pb.ANSWER_KIND_NET_CODE,
    AnswerKind.JSON: pb.ANSWER_KIND_JSON,
}
_KIND_FROM_PB = {value: kind for kind, value in _KIND_TO_PB.items()}
_HALLUCINATION = {
    "module": pb.HALLUCINATION_KIND_MODULE,
    "attribute": pb.HALLUCINATION_KIND_ATTRIBUTE,
    "keyword": pb.HALLUCINATION_KIND_KEYWORD,
}


def request_from_pb(message: pb.GenerateRequest | pb.GenerateStreamRequest) -> GenerationRequest:
    """The domain request of a unary or streaming request (they share their fields)."""
    if not message.model or len(message.model) > MAX_MODEL_CHARS:
        raise InvalidArgument("model must name a configured model (see ListModels)")
    prompt = None
    if message.HasField("prompt"):
        if not message.prompt.name:
            raise InvalidArgument("prompt.name is empty")
        prompt = PromptSelection(
            name=message.prompt.name,
            version=message.prompt.version,
            variables=dict(message.prompt.variables),
            list_variables={k: tuple(v.items) for k, v in message.prompt.list_variables.items()},
        )
    constraint = None
    if message.HasField("constraint"):
        which = message.constraint.WhichOneof("kind")
        if which is None:
            raise InvalidArgument("constraint sets neither json_schema nor regex")
        value = getattr(message.constraint, which)
        constraint = Constraint("json" if which == "json_schema" else "regex", value)
    if message.answer_kind not in (pb.ANSWER_KIND_UNSPECIFIED, *_KIND_FROM_PB):
        raise InvalidArgument(f"unknown answer_kind {message.answer_kind}")
    parameters = message.parameters
    return GenerationRequest(
        model=message.model,
        messages=tuple(ChatTurn(m.role, m.content) for m in message.messages),
        prompt=prompt,
        max_new_tokens=parameters.max_new_tokens,
        temperature=parameters.temperature if parameters.HasField("temperature") else None,
        top_p=parameters.top_p if parameters.HasField("top_p") else None,
        seed=parameters.seed if parameters.HasField("seed") else None,
        stop=tuple(parameters.stop),
        answer_kind=_KIND_FROM_PB.get(message.answer_kind),
        task=task_spec_from_pb(message.task) if message.HasField("task") else None,
        constraint=constraint,
    )


def analysis_to_pb(analysis: Analysis) -> pb.AnswerAnalysis:
    return pb.AnswerAnalysis(
        answer_kind=_KIND_TO_PB[analysis.answer_kind],
        content=analysis.content,
        outcome=outcome_to_pb(analysis.outcome),
        findings=[finding_to_pb(finding) for finding in analysis.findings],
        warnings=[finding_to_pb(finding) for finding in analysis.warnings],
        hallucinated_names=[
            pb.HallucinatedName(kind=_HALLUCINATION[name.kind], name=name.name, line=name.line)
            for name in analysis.hallucinated_names
        ],
        reasoning=analysis.reasoning,
        extraction_rule=analysis.extraction_rule,
    )


def identity_to_pb(identity: ModelIdentity | None) -> pb.ModelIdentity | None:
    if identity is None:
        return None
    return pb.ModelIdentity(
        name=identity.name,
        backend=identity.backend,
        served_model=identity.served.served_model,
        revision=identity.served.revision,
        file_sha256=identity.served.file_sha256,
    )


def sampling_to_pb(sampling: Sampling | None) -> pb.GenerationParameters | None:
    """The settings as sent; temperature and top_p unset where the backend's default applied
    (no temperature: greedy; no top_p: 1), the seed unset where none was sent."""
    if sampling is None:
        return None
    return pb.GenerationParameters(
        max_new_tokens=sampling.max_new_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=sampling.seed,
        stop=sampling.stop,
    )


def generation_to_pb(generation: Generation) -> pb.GenerateResponse:
    return pb.GenerateResponse(
        text=generation.text,
        finish_reason=_FINISH[generation.finish_reason],
        prompt_tokens=generation.prompt_tokens,
        generated_tokens=generation.generated_tokens,
        model=generation.model,
        wall_time_ms=generation.wall_time_ms,
        analysis=analysis_to_pb(generation.analysis),
        prompt_id=generation.prompt_id,
        upstream_latency_ms=generation.upstream_latency_ms,
        upstream_attempts=generation.upstream_attempts,
        prompt_tokens_estimated=generation.prompt_tokens_estimated,
        prompt_fitting=generation.prompt_fitting,
        prompt_sha256=generation.prompt_sha256,
        model_identity=identity_to_pb(generation.model_identity),
        parameters_used=sampling_to_pb(generation.parameters_used),
    )


def last_stream_message(generation: Generation, index: int) -> pb.GenerateStreamResponse:
    return pb.GenerateStreamResponse(
        index=index,
        finish_reason=_FINISH[generation.finish_reason],
        generated_tokens=generation.generated_tokens,
        analysis=analysis_to_pb(generation.analysis),
        prompt_tokens=generation.prompt_tokens,
        prompt_tokens_estimated=generation.prompt_tokens_estimated,
        wall_time_ms=generation.wall_time_ms,
        model=generation.model,
        prompt_id=generation.prompt_id,
        full_text=generation.text,
        prompt_fitting=generation.prompt_fitting,
        prompt_sha256=generation.prompt_sha256,
        model_identity=identity_to_pb(generation.model_identity),
        parameters_used=sampling_to_pb(generation.parameters_used),
    )


def _deadline(context) -> float | None:
    """The caller's deadline on time.monotonic's clock, or None when it set none."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class LlmGatewayServicer(pb_grpc.LlmGatewayServiceServicer):
    """Generation for the caller's tenant, with the caller's deadline passed upstream."""

    def __init__(self, gateway: LlmGateway) -> None:
        self._gateway = gateway

    async def Generate(self, request, context):
        generation = await self._gateway.generate(
            request_from_pb(request), tenant=current_tenant(), deadline=_deadline(context)
        )
        return generation_to_pb(generation)

    async def GenerateStream(self, request, context):
        index = 0
        async for item in self._gateway.generate_stream(
            request_from_pb(request), tenant=current_tenant(), deadline=_deadline(context)
        ):
            if isinstance(item, TokenPiece):
                index = item.index + 1
                yield pb.GenerateStreamResponse(text=item.text, index=item.index)
            else:
                yield last_stream_message(item, index)

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(
            models=[
                pb.ModelInfo(
                    name=model.name,
                    backend=model.backend,
                    max_total_tokens=model.max_total_tokens,
                    default_max_new_tokens=model.default_max_new_tokens,
                    max_new_tokens_limit=model.max_new_tokens_limit,
                    chat_template=model.chat_template,
                    supports_constraints=model.supports_constraints,
                )
                for model in self._gateway.models()
            ]
        )

    async def ListPrompts(self, request, context):
        return pb.ListPromptsResponse(
            prompts=[
                pb.PromptInfo(
                    name=template.name,
                    version=f"v{template.version}",
                    description=template.description,
                    answer_kind=_KIND_TO_PB[template.answer_kind],
                    variables=[
                        pb.PromptVariable(
                            name=var.name,
                            kind=var.kind,
                            required=var.required,
                            description=var.description,
                        )
                        for var in template.variables.values()
                    ],
                )
                for template in self._gateway.prompt_templates()
            ]
        )


def gateway_binding(gateway: LlmGateway) -> ServiceBinding:
    return bind(
        pb_grpc.add_LlmGatewayServiceServicer_to_server,
        LlmGatewayServicer(gateway),
        pb.DESCRIPTOR.services_by_name["LlmGatewayService"],
    )
