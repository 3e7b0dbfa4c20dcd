"""The embedded engine: SIP UA + RTP + mixer, the default when no PBX is configured."""
