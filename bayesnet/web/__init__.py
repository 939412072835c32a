"""The local web page: a JSON API over the :class:`~bayesnet.model.Model` and the page that uses it.

:mod:`bayesnet.web.api` answers the page's questions as plain dicts; :mod:`bayesnet.web.app` serves
them and the page's assets (``static/``) on an ASGI stack (Starlette, run by uvicorn). The server
needs the ``web`` extra: ``pip install "bayesnet[web]"``.
"""
