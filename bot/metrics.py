"""Prometheus metrics. One registry per app, so several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "scrm_http_requests_total",
            "HTTP requests by route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "scrm_http_request_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.pushes = Counter(
            "scrm_pushes_total",
            "Outbox pushes by channel and outcome (sent, retried, dead, expired)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "scrm_inbound_events_total",
            "Inbound platform events by source and outcome (processed, duplicate, rejected)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.job_runs = Counter(
            "scrm_job_runs_total",
            "Scheduled job runs by job and outcome (ok, failed, missed)",
            ["job", "status"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "scrm_job_seconds",
            "Scheduled job duration",
            ["job"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900),
            registry=self.registry,
        )
        self.intake_rows = Counter(
            "scrm_intake_rows_total",
            "Intake rows by kind and outcome (created, updated, merged, unchanged, conflict, rejected)",
            ["kind", "status"],
            registry=self.registry,
        )
