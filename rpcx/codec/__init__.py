"""Payload codecs: raw bytes, JSON, MessagePack, Protobuf behind one small interface."""

from .base import Codec, CodecRegistry, default_codecs

__all__ = ["Codec", "CodecRegistry", "default_codecs"]
