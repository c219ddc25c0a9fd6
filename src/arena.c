/* arena.c - the graph's bump allocator: zeroed, aligned pieces from chained
 * blocks that never move, all freed at once.  Also the test-only hook that
 * makes the n-th allocation fail. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN ((size_t)64 * 1024)

struct nb__block {
    nb__block *next;      /* older block */
    size_t     cap, top;  /* bytes in data[], bytes used */
    _Alignas(64) unsigned char data[];
};

static long fail_countdown = -1;

void nb__alloc_fail_after(long n) { fail_countdown = n; }

int nb__alloc_should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        fail_countdown = -1;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void *nb__arena_alloc(nb__arena *a, size_t size, size_t align)
{
    nb__block *b = a->head;
    size_t at = b ? (b->top + align - 1) & ~(align - 1) : 0;

    if (nb__alloc_should_fail())
        return NULL;
    if (!b || at > b->cap || size > b->cap - at) {
        size_t cap = size > BLOCK_MIN ? size : BLOCK_MIN;
        if (cap > SIZE_MAX - sizeof *b - 64)
            return NULL;
        size_t bytes = (sizeof *b + cap + 63) & ~(size_t)63;
        nb__block *nb = aligned_alloc(64, bytes);  /* data[] 64-aligned */
        if (!nb)
            return NULL;
        memset(nb, 0, bytes);
        nb->cap = cap;
        nb->next = b;
        a->head = b = nb;
        at = 0;
    }
    b->top = at + size;
    a->used += size;
    return b->data + at;
}

void nb__arena_free(nb__arena *a)
{
    nb__block *b = a->head;

    while (b) {               /* a loop, not recursion: any number of blocks */
        nb__block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
