"""The word index over posts and published digests, below everything that writes or reads it:
ingestion and digesting keep it in step, the archive (digests/archive/: /search, /ask) reads it.

tokens: text → index tokens (CJK character bigrams and Latin/number words, spelled in ASCII so
both databases index them alike); documents: the search_doc rows and the database's own
full-text structure over them (SQLite FTS5, PostgreSQL tsvector + GIN).
"""
