"""City-level department stand-ins (hpf, medical, health, community); see INTERFACES.md."""
