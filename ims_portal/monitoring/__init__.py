"""Operations: health and readiness probes, Prometheus metrics, the access log and JSON logs.

Served before the rest of the stack (`middleware.py`), so a probe costs no session, no
sign-in and no audit event.
"""
