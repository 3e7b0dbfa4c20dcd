"""Sans-IO codecs: bytes in, typed messages out. No sockets, no asyncio."""
