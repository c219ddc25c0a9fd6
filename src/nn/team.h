/* team.h - a few threads that run one function together, step after step
 * (the model layer's data-parallel workers; not installed). */
#ifndef NB_TEAM_H
#define NB_TEAM_H

typedef struct team team;
typedef void (*team_fn)(void *ctx, int k);

/* n threads in all: the caller and n - 1 started here (1 <= n <= 64).
 * NULL if a thread cannot be started or memory is short. */
team *team_new(int n);
/* fn(ctx, k) for k = 0 .. n-1 at once, k = 0 on the caller; returns when
 * every call has.  Waiting threads (the caller too) spin for tens of
 * microseconds, then sleep, so a team between steps costs no CPU time and
 * a thread that waits for a descheduled one gives its core back. */
void team_run(team *t, team_fn fn, void *ctx);
int team_size(const team *t);
void team_free(team *t); /* NULL is a no-op */

#endif /* NB_TEAM_H */
