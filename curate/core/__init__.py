"""The data model: plain pydantic models and value types. No I/O, no heavy imports."""
