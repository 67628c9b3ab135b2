"""Runs as server-side objects: the store, the run id, the workers.

May import the engine, lab records, sqlalchemy and ray; never streamlit.
"""
