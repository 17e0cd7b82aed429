"""The agent's inputs, one module per kind; each loads its library only when configured."""
