/* SPDX-License-Identifier: MIT */
/*
 * test-fleet.c: placement (rendezvous hashing, daemon/fleet/fleet-jobs.c)
 * over 100,000 job names: every job has one owner, the shares are even,
 * a join moves about 1/N of the jobs and only to the new member, a leave
 * moves only the leaver's jobs. Deterministic: the hashes are fixed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fleet/fleet-internal.h"
#include "tests/unit/tap.h"

enum { JOBS = 100000, MAX_MEMBERS = 8 };

static uint64_t job_hash[JOBS];

static void hash_jobs(void)
{
	char name[32];

	for (int i = 0; i < JOBS; i++) {
		snprintf(name, sizeof name, "job-%d.example", i);
		job_hash[i] = fleet__hash(name);
	}
}

/* The owner of every job among members[0..n) (indices), into owner[]. */
static void place(const uint64_t *members, int n, int *owner)
{
	for (int j = 0; j < JOBS; j++) {
		uint64_t best = 0;

		owner[j] = -1;
		for (int m = 0; m < n; m++) {
			uint64_t sc = fleet__score(members[m], job_hash[j]);

			if (owner[j] < 0 || sc > best) {
				best = sc;
				owner[j] = m;
			}
		}
	}
}

static uint64_t member_hashes[MAX_MEMBERS];
static int before[JOBS], after[JOBS];

static void setup(void)
{
	char name[32];

	hash_jobs();
	for (int m = 0; m < MAX_MEMBERS; m++) {
		snprintf(name, sizeof name, "web-%02d", m + 1);
		member_hashes[m] = fleet__hash(name);
	}
}

TEST(shares_are_even)
{
	int count[MAX_MEMBERS] = { 0 };

	setup();
	place(member_hashes, 5, before);
	for (int j = 0; j < JOBS; j++) {
		ASSERT(before[j] >= 0 && before[j] < 5);
		count[before[j]]++;
	}
	/* 20,000 each; binomial sd ~126: 3% is over ten sd. */
	for (int m = 0; m < 5; m++) {
		printf("# member %d: %d jobs\n", m, count[m]);
		ASSERT(count[m] > 19400 && count[m] < 20600);
	}
}

TEST(a_join_moves_about_1_over_n_and_only_to_the_new_member)
{
	int moved = 0;

	setup();
	place(member_hashes, 4, before);
	place(member_hashes, 5, after);
	for (int j = 0; j < JOBS; j++) {
		if (before[j] != after[j]) {
			moved++;
			ASSERT_EQ(after[j], 4); /* only to the newcomer */
		}
	}
	printf("# join of a 5th member moved %d of %d (%.2f%%; ideal 20%%)\n", moved, JOBS,
	       100.0 * moved / JOBS);
	ASSERT(moved < JOBS / 5 + JOBS / 50);
	ASSERT(moved > JOBS / 5 - JOBS / 50);
}

TEST(a_leave_moves_only_the_leavers_jobs)
{
	uint64_t without[MAX_MEMBERS];
	int moved = 0, theirs = 0;

	setup();
	place(member_hashes, 5, before);
	/* Member 2 leaves: the others keep their indices shifted by one above it. */
	for (int m = 0, k = 0; m < 5; m++)
		if (m != 2)
			without[k++] = member_hashes[m];
	place(without, 4, after);
	for (int j = 0; j < JOBS; j++) {
		int was = before[j], now = after[j] >= 2 ? after[j] + 1 : after[j];

		theirs += was == 2;
		if (was != now) {
			moved++;
			ASSERT_EQ(was, 2);
		}
	}
	ASSERT_EQ(moved, theirs);
	printf("# leave of one of 5 moved %d of %d (%.2f%%)\n", moved, JOBS, 100.0 * moved / JOBS);
	ASSERT(moved < JOBS / 5 + JOBS / 50);
}

TEST(placement_does_not_depend_on_member_order)
{
	uint64_t reversed[5];

	setup();
	for (int m = 0; m < 5; m++)
		reversed[m] = member_hashes[4 - m];
	place(member_hashes, 5, before);
	place(reversed, 5, after);
	for (int j = 0; j < JOBS; j++)
		ASSERT_EQ(before[j], 4 - after[j]);
}
