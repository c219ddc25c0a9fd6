/* arena.c - the graph's bump allocator: aligned pieces from chained
 * blocks that never move, all freed at once; a cache of freed blocks shared
 * by all graphs; and the test-only hook that makes the n-th allocation
 * fail. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define NB__BLOCK ((size_t)64 * 1024)   /* the standard size; bigger for one big allocation */

struct nb__block {
    nb__block *next;      /* older block */
    size_t     cap, top;  /* bytes in data[]; bytes used (for the head block: a->next) */
    thrd_t     owner;     /* the thread that allocated it: its heap */
    _Alignas(64) unsigned char data[];
};

long nb__fail_countdown = -1;

void nb__alloc_fail_after(long n) { nb__fail_countdown = n; }

int nb__alloc_fail_now(void)
{
    if (nb__fail_countdown < 0)
        return 0;
    if (nb__fail_countdown == 0) {
        nb__fail_countdown = -1;
        return 1;
    }
    nb__fail_countdown--;
    return 0;
}

/* Freed blocks of the standard size wait here, up to CACHE_MAX bytes, for
 * the next graph.  A program that builds a fresh graph per step (as
 * micrograd does) then reuses warm memory: freed to glibc, the blocks go
 * back to the kernel and every new graph page-faults its arena in again,
 * which took 40% of scalar-mlp's build time and made it swing by 2x with
 * the allocation pattern.  Shared by all threads, under a mutex. */
#define CACHE_MAX ((size_t)64 << 20)

static struct {
    nb__block *head;
    size_t     bytes;
    mtx_t      lock;
    int        ok;
} cache;
static once_flag cache_once = ONCE_FLAG_INIT;

static void cache_init(void) { cache.ok = mtx_init(&cache.lock, mtx_plain) == thrd_success; }

/* A cached block for arena a, or NULL.  A graph's blocks must lie close
 * together: its packed tape counts 32-bit element offsets from the lowest
 * one (run.c, schedule).  glibc gives every thread a heap of its own,
 * terabytes from the others, and the cache is shared, so a graph's first
 * block is one the building thread allocated (from its heap), and a later
 * one is taken only if the arena's standard blocks and it then span at
 * most NEAR.  At most SCAN cached blocks are looked at; none fitting, the
 * caller allocates a fresh block. */
#define NEAR ((uintptr_t)1 << 30)
#define SCAN 16

static int fits(const nb__arena *a, const nb__block *b)
{
    if (!a->lo)
        return thrd_equal(b->owner, thrd_current());
    uintptr_t lo = (uintptr_t)b->data, hi = lo + b->cap;
    lo = lo < a->lo ? lo : a->lo;
    hi = hi > a->hi ? hi : a->hi;
    return hi - lo <= NEAR;
}

static nb__block *cache_get(const nb__arena *a)
{
    nb__block *b = NULL;

    call_once(&cache_once, cache_init);
    if (!cache.ok || mtx_lock(&cache.lock) != thrd_success)
        return NULL;
    nb__block **p = &cache.head;
    for (int i = 0; *p && i < SCAN; i++, p = &(*p)->next)
        if (fits(a, *p)) {
            b = *p;
            *p = b->next;
            cache.bytes -= b->cap;
            break;
        }
    mtx_unlock(&cache.lock);
    return b;
}

/* 1 if the cache took b */
static int cache_put(nb__block *b)
{
    int taken = 0;

    call_once(&cache_once, cache_init);
    if (b->cap != NB__BLOCK || !cache.ok || mtx_lock(&cache.lock) != thrd_success)
        return 0;
    if (cache.bytes + b->cap <= CACHE_MAX) {
        b->next = cache.head;
        cache.head = b;
        cache.bytes += b->cap;
        taken = 1;
    }
    mtx_unlock(&cache.lock);
    return taken;
}

/* a block of at least cap data bytes for arena a, not cleared */
static nb__block *block_new(const nb__arena *a, size_t cap)
{
    nb__block *b = cap == NB__BLOCK ? cache_get(a) : NULL;

    if (b) {
        b->top = 0;
        return b;
    }
    if (cap > SIZE_MAX - sizeof *b - 64)
        return NULL;
    size_t bytes = (sizeof *b + cap + 63) & ~(size_t)63;
    b = aligned_alloc(64, bytes);       /* data[] 64-aligned */
    if (b)
        *b = (nb__block){ .cap = cap, .owner = thrd_current() };
    return b;
}

/* nb__arena_alloc when the head block has no room (or there is none, or
 * the test hook is on): a new head block. */
void *nb__arena_alloc_block(nb__arena *a, size_t size, size_t align)
{
    nb__block *b = a->head;
    size_t at = b ? ((size_t)(a->next - b->data) + align - 1) & ~(align - 1) : 0;

    if (nb__alloc_should_fail())
        return NULL;
    if (b)
        b->top = (size_t)(a->next - b->data);
    if (!b || at > b->cap || size > b->cap - at) {
        nb__block *nb = block_new(a, size > NB__BLOCK ? size : NB__BLOCK);
        if (!nb)
            return NULL;
        nb->next = b;
        a->head = b = nb;
        if (b->cap == NB__BLOCK) {
            uintptr_t lo = (uintptr_t)b->data, hi = lo + b->cap;
            a->lo = !a->lo || lo < a->lo ? lo : a->lo;
            a->hi = hi > a->hi ? hi : a->hi;
        }
        a->end = b->data + b->cap;
        at = 0;
    }
    b->top = at + size;
    a->next = b->data + b->top;
    a->used += size;
    return b->data + at;
}

void nb__arena_free(nb__arena *a)
{
    nb__block *b = a->head;

    if (b)
        b->top = (size_t)(a->next - b->data);   /* what cache_get clears */

    while (b) {               /* a loop, not recursion: any number of blocks */
        nb__block *next = b->next;
        if (!cache_put(b))
            free(b);
        b = next;
    }
    a->head = NULL;
    a->next = a->end = NULL;
    a->used = 0;
    a->lo = a->hi = 0;
}
