"""Where an engine lives for this user: the private runtime directory, its token, starting one."""
