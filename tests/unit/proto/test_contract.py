"""The wire contract in proto/: comments everywhere, enum conventions, and agreement with netapi."""

import importlib.resources
import pathlib

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from nasforge.common.v1 import common_pb2
from netapi.outcomes import Outcome, Stage

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[3] / "proto"
WELL_KNOWN_TYPES = importlib.resources.files("grpc_tools") / "_proto"
PROTO_FILES = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))

# FileDescriptorProto field numbers, as used in SourceCodeInfo paths.
MESSAGE, ENUM, SERVICE = 4, 5, 6
FIELD, NESTED_MESSAGE, NESTED_ENUM = 2, 3, 4
ENUM_VALUE, METHOD = 2, 2


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("descriptors") / "set.pb"
    status = protoc.main(
        [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{WELL_KNOWN_TYPES}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *PROTO_FILES,
        ]
    )
    assert status == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _commented_paths(file):
    return {
        tuple(loc.path)
        for loc in file.source_code_info.location
        if loc.leading_comments.strip() or loc.trailing_comments.strip()
    }


def _message_paths(message, path):
    yield path, f"message {message.name}"
    for index, field in enumerate(message.field):
        yield (*path, FIELD, index), f"field {message.name}.{field.name}"
    for index, nested in enumerate(message.nested_type):
        if nested.options.map_entry:  # synthesised by protoc for map<,> fields
            continue
        yield from _message_paths(nested, (*path, NESTED_MESSAGE, index))
    for index, enum in enumerate(message.enum_type):
        yield from _enum_paths(enum, (*path, NESTED_ENUM, index))


def _enum_paths(enum, path):
    yield path, f"enum {enum.name}"
    for index, value in enumerate(enum.value):
        yield (*path, ENUM_VALUE, index), f"enum value {value.name}"


def _documented_elements(file):
    for index, message in enumerate(file.message_type):
        yield from _message_paths(message, (MESSAGE, index))
    for index, enum in enumerate(file.enum_type):
        yield from _enum_paths(enum, (ENUM, index))
    for index, service in enumerate(file.service):
        yield (SERVICE, index), f"service {service.name}"
        for method_index, method in enumerate(service.method):
            yield (SERVICE, index, METHOD, method_index), f"rpc {service.name}.{method.name}"


def test_every_service_rpc_message_field_and_enum_value_is_commented(descriptor_set):
    missing, checked = [], 0
    for file in descriptor_set.file:
        commented = _commented_paths(file)
        elements = list(_documented_elements(file))
        checked += len(elements)
        missing += [f"{file.name}: {what}" for path, what in elements if path not in commented]
    assert checked > 200  # the walk really covered the contract
    assert missing == []


def test_packages_mirror_folders(descriptor_set):
    for file in descriptor_set.file:
        assert file.package == ".".join(pathlib.PurePath(file.name).parent.parts)


def test_every_enum_starts_with_unspecified_zero(descriptor_set):
    for file in descriptor_set.file:
        enums = list(file.enum_type) + [e for m in file.message_type for e in m.enum_type]
        for enum in enums:
            zero = next(value for value in enum.value if value.number == 0)
            assert zero.name.endswith("_UNSPECIFIED"), enum.name


def test_every_rpc_has_its_own_request_and_response(descriptor_set):
    for file in descriptor_set.file:
        for service in file.service:
            for method in service.method:
                assert method.input_type.endswith(f".{method.name}Request")
                assert method.output_type.endswith(f".{method.name}Response")


def test_outcome_enum_is_exactly_the_closed_set_of_netapi():
    wire = {name for name in common_pb2.Outcome.keys() if name != "OUTCOME_UNSPECIFIED"}
    assert wire == {outcome.proto_name for outcome in Outcome}


def test_stage_enum_matches_netapi():
    wire = {name for name in common_pb2.Stage.keys() if name != "STAGE_UNSPECIFIED"}
    assert wire == {stage.proto_name for stage in Stage}
