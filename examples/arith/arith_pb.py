"""Protobuf classes for the Arith contract (arith.proto), built at import time from a descriptor.

Equivalent to what ``protoc --python_out`` generates for arith.proto, without generated code to
keep in step with the protobuf runtime.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _build() -> tuple[type, type]:
    fdp = descriptor_pb2.FileDescriptorProto(name="arith.proto", package="arith", syntax="proto3")
    for name, fields in (("Args", ("A", "B")), ("Reply", ("C",))):
        msg = fdp.message_type.add(name=name)
        for number, field in enumerate(fields, 1):
            msg.field.add(name=field, number=number, type=_F.TYPE_INT64, label=_F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("arith.Args")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("arith.Reply")),
    )


Args, Reply = _build()
