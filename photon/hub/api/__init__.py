"""The api edge: the admin, auth and enrolment services on the api port (gRPC, TLS)."""

from ._server import ApiServer as ApiServer

__all__ = ["ApiServer"]
