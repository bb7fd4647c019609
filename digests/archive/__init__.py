"""The archive readers search and ask, over the word index (digests/index/: its tokens and
documents, kept in step by ingestion and digesting): search: /search; ask: /ask (retrieval from
entitled posts, the LLM, checks).
"""
