"""Analyses of built networks that do not run the engine (state-space enumeration, ...).

Each analysis is a module of pure functions on arrays, imported only when used, so that
``import recurnet_sim`` stays light (networkx and scipy load inside the functions that need them).
"""
