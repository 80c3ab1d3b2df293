"""The web pages a person uses: sign in, Integrations, Sessions with their agenda, Manage IDI.

Server-rendered HTML (Jinja2, autoescaped) with one small script and no build step. The pages
sign a person in with the org's API key and then act through the JSON API as that org
(backend.py), so they add no rules of their own. `routes` is what api/app.py registers.
"""

from api.pages import account, integrations, manage, sessions, zoom_connect

routes = [*account.routes, *integrations.routes, *zoom_connect.routes, *sessions.routes,
          *manage.routes]
