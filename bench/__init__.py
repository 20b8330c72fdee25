"""PHOTON's benchmarks: the same workloads on PHOTON, Ray, Dask, Celery and a bare-gRPC floor.

Run them with `make bench` or `python -m bench.run`; see bench/README.md.
"""
