"""Scheduled jobs (APScheduler 3, SQLAlchemy job store), one leader among replicas."""
