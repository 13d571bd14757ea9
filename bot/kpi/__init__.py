"""Campaign KPIs: attribution, per-campaign facts kept as orders land, the KPI engine,
definitions, periods and charts (docs/kpis.md)."""
