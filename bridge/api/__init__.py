"""HTTP API (aiohttp): parse -> service -> serialize."""
