/* shape.h - how an op's output elements map onto its inputs' elements:
 * broadcasting and axes.  Shared by the shape rules (ops.c) and the kernels
 * (kernels.c); private. */
#ifndef NB_SHAPE_H
#define NB_SHAPE_H

#include "internal.h"

/* How y's elements map onto its inputs'.  SAME: one to one.  A_ONE, B_ONE:
 * that input is a single element.  A_ROWS, B_ROWS: that input repeats
 * along y's leading dims (a bias row onto a matrix), y seen as rows of
 * that input's size.  WALK: anything else; the walk keeps the offsets ia,
 * ib into the two inputs, a stretched dimension having stride 0. */
enum { SAME, A_ONE, B_ONE, A_ROWS, B_ROWS, WALK };
typedef struct bcast {
    int kind;
    size_t ia, ib;
    size_t idx[NB_MAX_RANK], dim[NB_MAX_RANK], sa[NB_MAX_RANK], sb[NB_MAX_RANK];
} bcast;

static inline void strides(const nb_node *x, const nb_node *y, size_t *s)
{
    size_t stride = 1;
    int pad = NB_MAX_RANK - x->rank, ypad = NB_MAX_RANK - y->rank;

    for (int d = NB_MAX_RANK; d-- > 0;) {
        int xd = d < pad ? 1 : nb__ext_of(x)->dim[d - pad];
        int yd = d < ypad ? 1 : nb__ext_of(y)->dim[d - ypad];
        s[d] = xd == yd ? stride : 0;
        stride *= (size_t)xd;
    }
}

/* x's shape is y's trailing dims, with nothing but 1s before them */
static inline int is_suffix(const nb_node *x, const nb_node *y)
{
    int pad = y->rank - x->rank;
    for (int d = 0; d < x->rank; d++)
        if (nb__ext_of(x)->dim[d] != nb__ext_of(y)->dim[d + pad])
            return 0;
    return 1;
}

static inline size_t bcast_begin(bcast *it, const nb_node *y)
{
    size_t n = nb__size(y), na = nb__size(y->in[0]), nb = nb__size(y->in[1]);

    it->ia = it->ib = 0;
    if (na == n && nb == n)
        it->kind = SAME;
    else if (na == 1)
        it->kind = A_ONE;
    else if (nb == 1)
        it->kind = B_ONE;
    else if (na == n && is_suffix(y->in[1], y))
        it->kind = B_ROWS;
    else if (nb == n && is_suffix(y->in[0], y))
        it->kind = A_ROWS;
    else {
        int pad = NB_MAX_RANK - y->rank;
        it->kind = WALK;
        for (int d = 0; d < NB_MAX_RANK; d++) {
            it->idx[d] = 0;
            it->dim[d] = d < pad ? 1 : (size_t)nb__ext_of(y)->dim[d - pad];
        }
        strides(y->in[0], y, it->sa);
        strides(y->in[1], y, it->sb);
    }
    return n;
}

/* For incremental evaluation (forward_at): the element of input k that
 * y's element o reads */
static inline size_t bcast_index(const nb_node *y, int k, size_t o)
{
    const nb_node *x = y->in[k];
    size_t nx = nb__size(x), s[NB_MAX_RANK], i = 0;
    int pad = NB_MAX_RANK - y->rank;

    if (nx == nb__size(y))
        return o;
    if (nx == 1)
        return 0;
    strides(x, y, s);
    for (int d = NB_MAX_RANK; d-- > pad;) {
        size_t yd = (size_t)nb__ext_of(y)->dim[d - pad];
        i += o % yd * s[d];
        o /= yd;
    }
    return i;
}

static inline void bcast_next(bcast *it)
{
    for (int d = NB_MAX_RANK; d-- > 0;) {
        it->ia += it->sa[d];
        it->ib += it->sb[d];
        if (++it->idx[d] < it->dim[d])
            return;
        it->ia -= it->sa[d] * it->dim[d];
        it->ib -= it->sb[d] * it->dim[d];
        it->idx[d] = 0;
    }
}

/* (outer, m, inner) of x around y's axis */
static inline void axis_split(const nb_node *y, size_t *outer, size_t *m, size_t *inner)
{
    const nb_node *x = y->in[0];
    int axis = nb__ext_of(y)->axis;

    *outer = *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= (size_t)nb__ext_of(x)->dim[i];
    *m = (size_t)nb__ext_of(x)->dim[axis];
    for (int i = axis + 1; i < x->rank; i++)
        *inner *= (size_t)nb__ext_of(x)->dim[i];
}

/* the length of x's last axis: a row of classes */
static inline size_t row_len(const nb_node *x) { return (size_t)nb__dim(x, x->rank - 1); }

#endif /* NB_SHAPE_H */
