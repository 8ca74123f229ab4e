/* SPDX-License-Identifier: MIT */
/*
 * probe-run.c: one run of any job type (kept apart from probe.c so that a
 * test of one probe links only that probe).
 */
#include <errno.h>

#include "daemon/probe/probe.h"

int probe_run(struct probe *p)
{
	switch (p->job->type) {
	case JOB_HTTP:
		return probe_http(p);
	case JOB_TCP:
		return probe_tcp(p);
	case JOB_DNS:
		return probe_dns(p);
	case JOB_EXEC:
		return probe_exec(p);
	}
	return -EINVAL;
}
