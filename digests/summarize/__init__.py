"""Post → Digest: the LLM path (llm.py, prompts.py), its grounding gate, and the offline
extractive path; pipeline.py chooses and caches."""
