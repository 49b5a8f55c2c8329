"""``cosim serve``: a local web dashboard over a run, a sweep or a folder of runs.

Stack: Starlette (routing, responses) served by uvicorn, and Plotly.js for the charts, loaded
from the ``plotly.min.js`` that the ``plotly`` Python package ships, so nothing is fetched from
a CDN and the dashboard works offline. Installed with the ``[dashboard]`` extra. The pages are
one static HTML file and one script (``static/``); every number comes from the JSON API in
:mod:`cosim.dashboard.app`, computed and downsampled on the server by
:mod:`cosim.dashboard.data` from :class:`cosim.results.rundir.RunDir` readers, with the roles and
their
row filters of :mod:`cosim.dashboard.access`. ``docs/dashboard.md`` has the pages, the API and
the security model.

Example (an ASGI app to serve with any ASGI server; ``cosim serve`` uses uvicorn)::

    from cosim.dashboard import Access, Dashboard, create_app

    access = Access()
    app = create_app(Dashboard("results/quickstart", access))
    access.token("researcher")  # 'researcher.k3...': send as "Authorization: Bearer ..."
"""

from __future__ import annotations

from cosim.dashboard.access import RESEARCHER, Access, Role, restrict
from cosim.dashboard.app import API_ROUTES, Dashboard, bind, create_app, plotly_js, serve

__all__ = [
    "API_ROUTES",
    "RESEARCHER",
    "Access",
    "Dashboard",
    "Role",
    "bind",
    "create_app",
    "plotly_js",
    "restrict",
    "serve",
]
