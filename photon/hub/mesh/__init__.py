"""The mesh edge: agents' Connect streams on the mesh port (gRPC, mutual TLS)."""

from ._server import MeshServer as MeshServer

__all__ = ["MeshServer"]
