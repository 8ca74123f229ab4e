/* SPDX-License-Identifier: MIT */
/*
 * daemon.c: figures of the daemon's process, for the servers.
 */
#include <stdio.h>
#include <unistd.h>

#include "daemon/core/core.h"

uint64_t daemon_rss_bytes(void)
{
	unsigned long long size, rss;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	return n == 2 ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
