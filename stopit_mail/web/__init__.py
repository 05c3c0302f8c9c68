"""The web door: report pages, receipt codes and check-back, for people without email.

It sits on top, beside the SMTP listener: a web report is turned into an RFC 5322 message
and committed to the same raw store, so the worker files, triages and escalates it like mail.
Modules: `app` (routes and middleware), `server` (uvicorn), `report_routes`/`checkback_routes`
(the pages), `uploads` (streaming form parsing with limits), `files` (type sniffing, metadata
stripping), `receipts` (argon2-hashed codes), `intake` (message building and storage),
`security` (signed forms, headers), `ratelimit`, `i18n` and `pages` (templates).
"""
