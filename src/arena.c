/* arena.c - the graph's bump allocator: aligned pieces from chained
 * blocks that never move, all freed at once; a cache of freed blocks shared
 * by all graphs; and the test-only hook that makes the n-th allocation
 * fail. */
#define _DEFAULT_SOURCE /* madvise */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define NB__BLOCK ((size_t)64 * 1024) /* the standard size; bigger for one big allocation */
/* A graph that has used GROW_FROM bytes takes blocks of a quarter of what it
 * has, up to GROW_MAX, in whole huge pages: a graph of millions of nodes then
 * page-faults a few hundred times instead of once per 4 KB. */
#define HUGE_PAGE ((size_t)2 << 20)
#define GROW_FROM ((size_t)4 << 20)
#define GROW_MAX  ((size_t)64 << 20)

/* advice over the whole huge pages inside [p, p + bytes): advice on part
 * of one would split it; errors (no such advice here) change nothing */
#if defined(__linux__)
static void advise_whole(void *p, size_t bytes, int advice)
{
    uintptr_t from = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t to = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (to > from)
        madvise((void *)from, to - from, advice);
}
#endif

void nb__advise_huge(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    advise_whole(p, bytes, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void nb__big_idle(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_FREE)
    advise_whole(p, bytes, MADV_FREE);
#else
    (void)p, (void)bytes;
#endif
}

/* ---- Arrays that grow with the graph --------------------------------------
 * Past BIG bytes, the node index and the scalar store move to a mapping
 * for their whole index range, in huge pages, of which only the pages
 * touched take memory: growing then moves nothing, and no
 * page is first touched by realloc's copy, in 4 kB pages, before it could
 * be advised (at 10M nodes that was most of the page faults).  An array is
 * mapped exactly when its capacity reaches BIG bytes. */
#define BIG NB__BIG

static void *big_map(size_t bytes)
{
#if NB__BIG_MAPS
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    nb__advise_huge(p, bytes);
    return p;
#else
    (void)bytes;
    return NULL;
#endif
}

void nb__big_free(void *arr, size_t cap, size_t elt)
{
#if NB__BIG_MAPS
    if (arr && cap * elt >= BIG) {
        munmap(arr, cap * elt);
        return;
    }
#endif
    (void)cap, (void)elt;
    free(arr);
}

void *nb__big_grow(void *arr, size_t *cap, size_t need, size_t elt)
{
    if (arr && need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 32 / elt)
            return NULL;
        ncap *= 2;
    }
    if (nb__alloc_should_fail())
        return NULL;
    if (ncap * elt < BIG) {
        void *p = realloc(arr, ncap * elt);
        if (p)
            *cap = ncap;
        return p;
    }
    /* room for 2^32 elements (the index range), or else 16 times the need,
     * or else the need: address space without memory, where it can be had */
    size_t bytes = 0, want[3] = { (size_t)UINT32_MAX + 1, ncap * 16, ncap };
    void *p = NULL;
    for (int i = 0; i < 3 && !p; i++) {
        if (want[i] < ncap || want[i] > SIZE_MAX / elt - HUGE_PAGE)
            continue;
        bytes = (want[i] * elt + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        p = big_map(bytes);
    }
    if (!p)
        return NULL;
    if (arr)
        memcpy(p, arr, *cap * elt);
    nb__big_free(arr, *cap, elt);
    *cap = bytes / elt;
    return p;
}

struct nb__block {
    nb__block *next; /* older block */
    size_t cap, top; /* bytes in data[]; bytes used (for the head block: a->next) */
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
 * micrograd does) then reuses warm memory: freed to glibc, the blocks may
 * go back to the kernel, and every new graph would page-fault its arena in
 * again.  Shared by all threads, under a mutex. */
#define CACHE_MAX ((size_t)64 << 20)

static struct {
    nb__block *head;
    size_t bytes;
    pthread_mutex_t lock;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A cached block, or NULL. */
static nb__block *cache_get(void)
{
    nb__block *b = NULL;

    if (pthread_mutex_lock(&cache.lock) != 0)
        return NULL;
    if ((b = cache.head) != NULL) {
        cache.head = b->next;
        cache.bytes -= b->cap;
    }
    pthread_mutex_unlock(&cache.lock);
    return b;
}

/* 1 if the cache took b */
static int cache_put(nb__block *b)
{
    int taken = 0;

    if (NB__ASAN || b->cap != NB__BLOCK || pthread_mutex_lock(&cache.lock) != 0)
        return 0;
    if (cache.bytes + b->cap <= CACHE_MAX) {
        b->next = cache.head;
        cache.head = b;
        cache.bytes += b->cap;
        taken = 1;
    }
    pthread_mutex_unlock(&cache.lock);
    return taken;
}

/* A block of huge pages (block_new) */
static int block_big(const nb__block *b) { return sizeof *b + b->cap >= HUGE_PAGE; }

/* the first of a's spare blocks with at least cap data bytes, or NULL */
static nb__block *spare_get(nb__arena *a, size_t cap)
{
    for (nb__block **at = &a->spare; *at; at = &(*at)->next)
        if ((*at)->cap >= cap) {
            nb__block *b = *at;
            *at = b->next;
            return b;
        }
    return NULL;
}

/* a block of at least cap data bytes, not cleared */
static nb__block *block_new(nb__arena *a, size_t cap)
{
    nb__block *b = cap == NB__BLOCK ? cache_get() : spare_get(a, cap);

    if (b) {
        b->top = 0;
        return b;
    }
    if (cap > SIZE_MAX - sizeof *b - HUGE_PAGE)
        return NULL;
    size_t bytes = (sizeof *b + cap + 63) & ~(size_t)63;
    if (bytes >= HUGE_PAGE) { /* whole huge pages, aligned to them */
        bytes = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        b = aligned_alloc(HUGE_PAGE, bytes);
        if (b)
            nb__advise_huge(b, bytes);
    } else {
        b = aligned_alloc(64, bytes); /* data[] 64-aligned */
    }
    if (b)
        *b = (nb__block){ .cap = bytes - sizeof *b };
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
        size_t cap = a->used < GROW_FROM      ? NB__BLOCK
                     : a->used / 4 < GROW_MAX ? a->used / 4
                                              : GROW_MAX;
        nb__block *nb = block_new(a, size > cap ? size : cap);
        if (!nb)
            return NULL;
        nb->next = b;
        a->head = b = nb;
        a->end = b->data + b->cap;
        at = 0;
    }
    b->top = at + size;
    a->next = b->data + b->top;
    a->used += size;
    return b->data + at;
}

static void blocks_free(nb__block *b)
{
    while (b) { /* a loop, not recursion: any number of blocks */
        nb__block *next = b->next;
        free(b);
        b = next;
    }
}

/* Every block but keep (which may be NULL) to the cache or to the allocator,
 * or the big ones, with spares, to a's spares; the arena then holds keep
 * alone, empty. */
static void arena_drop(nb__arena *a, nb__block *keep, int spares)
{
    nb__block *b = a->head;

    if (b)
        b->top = (size_t)(a->next - b->data); /* what cache_get clears */
    if (spares) { /* only the last graph's big blocks wait: the ones it left unused go */
        blocks_free(a->spare);
        a->spare = NULL;
    }
    while (b) {
        nb__block *next = b->next;
        if (b != keep && spares && block_big(b)) {
            nb__big_idle(b->data, b->top);
            b->next = a->spare;
            a->spare = b;
        } else if (b != keep && !cache_put(b)) {
            free(b);
        }
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->top = 0;
    }
    a->head = keep;
    a->next = keep ? keep->data : NULL;
    a->end = keep ? keep->data + keep->cap : NULL;
    a->used = 0;
}

void nb__arena_free(nb__arena *a)
{
    arena_drop(a, NULL, 0);
    blocks_free(a->spare);
    a->spare = NULL;
}

void nb__arena_reset(nb__arena *a)
{
    nb__block *keep = a->head;

    if (keep && !keep->next && keep->cap == NB__BLOCK) { /* a small graph's one block */
        a->next = keep->data;
        a->used = 0;
        return;
    }
    while (keep && keep->cap != NB__BLOCK)
        keep = keep->next;
    arena_drop(a, keep, 1);
}
