"""Protobuf message classes for the codec tests, built at runtime from a descriptor (no protoc).

Equivalent to::

    syntax = "proto3";
    package rpcxtest;
    message Args  { int64 A = 1; int64 B = 2; }
    message Reply { int64 C = 1; }

protobuf is imported inside :func:`build`, so collecting this module works without the extra.
"""

from __future__ import annotations

import functools


@functools.cache
def build() -> tuple[type, type]:
    """``(Args, Reply)`` message classes, from a private descriptor pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field_type = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="rpcxtest/arith.proto", package="rpcxtest", syntax="proto3")
    for name, fields in (("Args", ("A", "B")), ("Reply", ("C",))):
        msg = fdp.message_type.add(name=name)
        for number, field in enumerate(fields, start=1):
            msg.field.add(name=field, number=number, type=field_type.TYPE_INT64, label=field_type.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()  # private: nothing leaks into the default pool
    pool.Add(fdp)
    args = message_factory.GetMessageClass(pool.FindMessageTypeByName("rpcxtest.Args"))
    reply = message_factory.GetMessageClass(pool.FindMessageTypeByName("rpcxtest.Reply"))
    return args, reply
