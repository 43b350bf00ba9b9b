"""A restricting Docker API proxy: only the calls the launcher, reaper and trainer make."""
