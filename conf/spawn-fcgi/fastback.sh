#!/bin/sh
# Starting the pool with spawn-fcgi (shared hosting, sysvinit, or any setup
# where spawn-fcgi opens the socket). spawn-fcgi creates the socket and hands
# it to fastback-fcgi on fd 0; leave FCGI_LISTEN unset in the configuration.
# fastback-fcgi then forks FCGI_CHILDREN responders itself, so start ONE
# process (-F 1, the default): its responders share the metrics of /metrics.
# With -F N you would get N separate pools, each with its own counters.
exec spawn-fcgi \
	-s /run/fastback/fastback.sock -M 0660 -U www-data -G www-data \
	-u fastback -g fastback \
	-P /run/fastback/fastback.pid \
	-- /usr/bin/env FASTBACK_CONFIG=/etc/fastback/fastback.conf \
	/usr/local/bin/fastback-fcgi
