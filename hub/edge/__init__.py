"""The web edge every router shares: the caller and the services as dependencies, uploads and
evidence files, CORS, OpenAPI, TLS and the Prometheus figures.
"""
