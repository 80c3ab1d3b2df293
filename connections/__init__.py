"""An organization's Zoom connection: connect, warnings, disconnect, its tokens, acting as a host.

connect.py       the OAuth connect (state + PKCE) and its callback
warnings.py      what a connect-time check finds (Basic user, missing scopes, ...)
disconnect.py    disconnect, revoke, and Zoom's app_deauthorized
tokens.py        the token manager: every Zoom call's access token, refreshed under a Redis lock
meeting_host.py  a Zoom client acting as the user that hosts a given meeting
"""
