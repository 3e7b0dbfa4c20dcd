"""Engine adapters behind one Backend protocol: asterisk/, freeswitch/, embedded/."""
