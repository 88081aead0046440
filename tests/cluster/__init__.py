"""Several Vigie instances sharing PostgreSQL, behind nginx: real servers on loopback."""
