"""mention-monitor benchmarks: API efficiency, cold start, throughput and cost.

Run ``python3 -m bench`` from the repository root (see ``bench/README.md``). Everything runs
against local fakes: the fake X API on 127.0.0.1 and moto for AWS; nothing leaves the machine.
"""
