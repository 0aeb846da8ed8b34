"""The web application: server-rendered pages (Jinja2 + htmx, vendored Chart.js) for steering and operations."""
