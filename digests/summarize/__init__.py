"""Post → Digest: the LLM path (llm.py, its reading of answers in streamed.py, the server's
limits in limits.py, prompts.py), its grounding gate, and the offline extractive path;
pipeline.py splits, merges and grounds, digesting.py caches."""
