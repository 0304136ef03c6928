"""Foundation layer: catalog and providers, state, context, errors, data, embeddings, metrics.

Everything else imports from here; nothing here imports from routers, evaluators, nodes, graphs
or the application.
"""
