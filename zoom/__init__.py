"""Zoom protocol, free of storage and settings: values come in as arguments.

- `zoom.oauth`: authorize URL with PKCE, code exchange, refresh, revoke, Server-to-Server tokens
- `zoom.client`: the REST calls (users, meetings, recordings)
- `zoom.errors`: failures classified by what the caller must do
- `zoom.webhooks`: signature checks and event payload models
- `zoom.ids`: meeting id normalisation and UUID path encoding
"""
