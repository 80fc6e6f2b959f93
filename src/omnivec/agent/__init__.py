"""omnivec for coding agents: the tools an agent calls (search, find_related, index, status),
sized for its context, and the MCP server that serves them over stdio."""
