"""The archive readers search and ask: a word index over posts and published digests.

tokens: text → index tokens (CJK character bigrams and Latin/number words, spelled in ASCII so
both databases index them alike); index: the search_doc rows, kept in step by ingestion and
digesting, and the database's own full-text structure over them (SQLite FTS5, PostgreSQL
tsvector + GIN); search: /search; ask: /ask (retrieval from entitled posts, the LLM, checks).
"""
