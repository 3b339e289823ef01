/*
 * tilewise.merge._native: sequential greedy grouping of boxes over a spatial index.
 *
 * One routine, four modes (nms, greedy_nmm, nmm, wbf), plus the overlapping-pairs query.
 * Boxes arrive as float64 xyxy rows already sorted by segment (class, or one segment when
 * class-agnostic) and, inside a segment, by rank (descending confidence, stable). The
 * routine writes, for every row, the row of the survivor it belongs to.
 *
 * Spatial index: a hierarchical uniform grid. A box whose larger side s satisfies
 * s <= 2^e lives on level L = e - k0 (clamped), whose square cells are 2^(k0 + L + 1)
 * wide, anchored at the cell holding its (x1, y1) corner. Cells live in a hash table keyed
 * by (level, cx, cy), so memory follows the occupied cells, never the canvas. A query
 * scans, on each non-empty level, the cells whose anchors can hold an intersecting box,
 * or the level's whole cell list when that is shorter. k0 is the median size exponent, so
 * a typical query touches a handful of cells per level.
 *
 * Overlap arithmetic follows tilewise.boxes.ops exactly (float64, clip-at-zero widths,
 * IoU = inter / ((a + b) - inter), IoS = inter / min(a, b), 0 when the denominator is 0).
 * Build with floating-point contraction off so no FMA changes a result bit.
 *
 * Plain CPython C API and the buffer protocol: no numpy headers. The GIL is released
 * while a routine runs; all state is local, so calls are reentrant.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MODE_NMS 0
#define MODE_GREEDY_NMM 1
#define MODE_NMM 2
#define MODE_WBF 3

#define METRIC_IOU 0
#define METRIC_IOS 1

#define MAX_LEVELS 40
#define AXIS_BITS 27 /* at most 2^27 cells per axis on level 0 */
#ifndef CELL_SHIFT
#define CELL_SHIFT 0 /* level-L cells are 2^(k0 + L + CELL_SHIFT) wide */
#endif

#define ERR_NOMEM 1

/* ------------------------------------------------------------------ geometry */

static inline double area_of(const double *b)
{
    double w = b[2] - b[0];
    double h = b[3] - b[1];
    if (!(w > 0.0)) w = 0.0;
    if (!(h > 0.0)) h = 0.0;
    return w * h;
}

/* Positive-width and positive-height intersection (a prefilter; the metric decides). */
static inline int intersects(const double *a, const double *b)
{
    return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

static inline double inter_of(const double *a, const double *b)
{
    double w = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double h = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (!(w > 0.0) || !(h > 0.0)) return 0.0;
    return w * h;
}

static inline double overlap_of(const double *a, double area_a, const double *b, double area_b,
                                int metric)
{
    double inter = inter_of(a, b);
    double denom;
    if (metric == METRIC_IOU)
        denom = (area_a + area_b) - inter;
    else
        denom = area_a < area_b ? area_a : area_b;
    return denom > 0.0 ? inter / denom : 0.0;
}

/* ------------------------------------------------------------------ small vectors */

typedef struct {
    int32_t *a;
    size_t n, cap;
} IVec;

static int ivec_push(IVec *v, int32_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = (int32_t *)realloc(v->a, cap * sizeof(int32_t));
        if (!p) return ERR_NOMEM;
        v->a = p;
        v->cap = cap;
    }
    v->a[v->n++] = x;
    return 0;
}

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* ------------------------------------------------------------------ the grid */

typedef struct {
    double r[4];
    double area;
    int32_t next, prev; /* neighbours in the cell's list, -1 at the ends */
    int32_t cell;       /* -1 while not stored */
    int32_t level;
} Node; /* 56 bytes: the box and the links share a cache line */

typedef struct {
    int32_t head;       /* first node, -1 when empty */
    int32_t level_next; /* next cell of the same level, -1 at the end */
} Cell;

typedef struct {
    uint64_t key; /* 0 = empty slot */
    int32_t cell;
    int32_t pad;
} Slot;

typedef struct {
    double ox, oy;
    int k0, nlevels;
    double inv[MAX_LEVELS];
    double smax[MAX_LEVELS]; /* largest side ever stored on the level */
    double amin[MAX_LEVELS], amax[MAX_LEVELS]; /* area range ever stored on the level */
    int64_t nx[MAX_LEVELS], ny[MAX_LEVELS];
    int32_t level_head[MAX_LEVELS]; /* linked list of the level's cells */
    int32_t level_ncells[MAX_LEVELS];
    int32_t level_count[MAX_LEVELS]; /* nodes currently stored */
    Cell *cells;
    int32_t ncells, cap_cells;
    Slot *slots;
    uint64_t mask;
    int bits;
    int32_t nslots_used;
    Node *nodes;
    int32_t cap_nodes;
    int32_t *exps; /* scratch for the size statistic */
} Grid;

static void grid_free(Grid *g)
{
    free(g->cells);
    free(g->slots);
    free(g->nodes);
    free(g->exps);
    memset(g, 0, sizeof(*g));
}

static inline uint64_t hash_key(uint64_t key, int bits)
{
    return (key * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
}

static int grid_alloc_slots(Grid *g, int bits)
{
    size_t n = (size_t)1 << bits;
    Slot *s = (Slot *)calloc(n, sizeof(Slot));
    if (!s) return ERR_NOMEM;
    free(g->slots);
    g->slots = s;
    g->bits = bits;
    g->mask = (uint64_t)n - 1;
    g->nslots_used = 0;
    return 0;
}

static int grid_rehash(Grid *g)
{
    Slot *old = g->slots;
    size_t old_n = (size_t)1 << g->bits;
    int bits = g->bits + 1;
    size_t n = (size_t)1 << bits;
    Slot *s = (Slot *)calloc(n, sizeof(Slot));
    if (!s) return ERR_NOMEM;
    for (size_t i = 0; i < old_n; i++) {
        if (!old[i].key) continue;
        uint64_t h = hash_key(old[i].key, bits);
        while (s[h].key) h = (h + 1) & (n - 1);
        s[h] = old[i];
    }
    free(old);
    g->slots = s;
    g->bits = bits;
    g->mask = (uint64_t)n - 1;
    return 0;
}

static inline uint64_t make_key(int level, int64_t cx, int64_t cy)
{
    return ((uint64_t)(level + 1) << 56) | ((uint64_t)cx << 28) | (uint64_t)cy;
}

static inline int32_t cell_find(const Grid *g, uint64_t key)
{
    uint64_t h = hash_key(key, g->bits);
    for (;;) {
        uint64_t k = g->slots[h].key;
        if (k == key) return g->slots[h].cell;
        if (!k) return -1;
        h = (h + 1) & g->mask;
    }
}

/* Returns the cell index, or -1 when out of memory. */
static int32_t cell_get(Grid *g, int level, int64_t cx, int64_t cy)
{
    uint64_t key = make_key(level, cx, cy);
    uint64_t h = hash_key(key, g->bits);
    for (;;) {
        uint64_t k = g->slots[h].key;
        if (k == key) return g->slots[h].cell;
        if (!k) break;
        h = (h + 1) & g->mask;
    }
    if (g->ncells == g->cap_cells) {
        int32_t cap = g->cap_cells ? g->cap_cells * 2 : 256;
        Cell *c = (Cell *)realloc(g->cells, (size_t)cap * sizeof(Cell));
        if (!c) return -1;
        g->cells = c;
        g->cap_cells = cap;
    }
    int32_t id = g->ncells++;
    g->cells[id].head = -1;
    g->cells[id].level_next = g->level_head[level];
    g->level_head[level] = id;
    g->level_ncells[level]++;
    g->slots[h].key = key;
    g->slots[h].cell = id;
    g->nslots_used++;
    if ((uint64_t)g->nslots_used * 2 > g->mask + 1) {
        if (grid_rehash(g)) return -1;
    }
    return id;
}

static inline int64_t clamp_floor(double t, int64_t n)
{
    if (!(t > 0.0)) return 0;
    if (t >= (double)(n - 1)) return n - 1;
    return (int64_t)t;
}

static inline int level_of(const Grid *g, double size)
{
    int e;
    frexp(size, &e); /* size < 2^e */
    int level = e - g->k0;
    if (level < 0) level = 0;
    if (level >= g->nlevels) level = g->nlevels - 1;
    return level;
}

/*
 * Prepare the grid for one segment of n boxes: origin, base level, level count, and an
 * empty table. Only boxes with positive area take part (they are the only ones that can
 * overlap anything).
 */
static int grid_setup(Grid *g, const double *boxes, const unsigned char *part, int32_t n)
{
    if (n > g->cap_nodes) {
        Node *p = (Node *)realloc(g->nodes, (size_t)n * sizeof(Node));
        if (!p) return ERR_NOMEM;
        g->nodes = p;
        int32_t *e = (int32_t *)realloc(g->exps, (size_t)n * sizeof(int32_t));
        if (!e) return ERR_NOMEM;
        g->exps = e;
        g->cap_nodes = n;
    }
    double x0 = HUGE_VAL, y0 = HUGE_VAL, x1 = -HUGE_VAL, y1 = -HUGE_VAL;
    int emin = INT32_MAX, emax = INT32_MIN;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        g->nodes[i].cell = -1;
        if (!part[i]) continue;
        const double *b = boxes + 4 * (size_t)i;
        if (b[0] < x0) x0 = b[0];
        if (b[1] < y0) y0 = b[1];
        if (b[2] > x1) x1 = b[2];
        if (b[3] > y1) y1 = b[3];
        double w = b[2] - b[0], h = b[3] - b[1];
        int e;
        frexp(w > h ? w : h, &e);
        g->exps[m++] = e;
        if (e < emin) emin = e;
        if (e > emax) emax = e;
    }
    if (m == 0) {
        x0 = y0 = 0.0;
        x1 = y1 = 1.0;
        emin = emax = 0;
    }
    /* median size exponent by counting (the range is small in practice) */
    int k0 = emin;
    {
        int range = emax - emin + 1;
        int32_t *hist = (int32_t *)calloc((size_t)range, sizeof(int32_t));
        if (!hist) return ERR_NOMEM;
        for (int32_t i = 0; i < m; i++) hist[g->exps[i] - emin]++;
        int32_t acc = 0;
        for (int i = 0; i < range; i++) {
            acc += hist[i];
            if (2 * (int64_t)acc >= m) {
                k0 = emin + i;
                break;
            }
        }
        free(hist);
    }
    double extent = fmax(x1 - x0, y1 - y0);
    if (extent > 0.0) {
        int ee;
        frexp(extent, &ee); /* extent < 2^ee; level-0 cells are 2^(k0+1) wide */
        if (k0 < ee - AXIS_BITS - CELL_SHIFT) k0 = ee - AXIS_BITS - CELL_SHIFT;
    }
    if (k0 < emax - (MAX_LEVELS - 1)) k0 = emax - (MAX_LEVELS - 1);
    int nlevels = emax - k0 + 1;
    if (nlevels < 1) nlevels = 1;
    g->k0 = k0;
    g->nlevels = nlevels;
    g->ox = x0;
    g->oy = y0;
    for (int L = 0; L < nlevels; L++) {
        g->inv[L] = ldexp(1.0, -(k0 + L + CELL_SHIFT));
        g->smax[L] = 0.0;
        g->amin[L] = HUGE_VAL;
        g->amax[L] = 0.0;
        g->nx[L] = clamp_floor((x1 - x0) * g->inv[L], INT64_C(1) << 40) + 1;
        g->ny[L] = clamp_floor((y1 - y0) * g->inv[L], INT64_C(1) << 40) + 1;
        g->level_head[L] = -1;
        g->level_ncells[L] = 0;
        g->level_count[L] = 0;
    }
    g->ncells = 0;
    /* table sized for the segment: reuse when small enough, else reallocate */
    int bits = 4;
    while (((int64_t)1 << bits) < 2 * (int64_t)m && bits < 40) bits++;
    if (bits > 16) bits = 16; /* start moderate; it grows with the occupied cells */
    if (!g->slots || g->bits != bits) {
        if (grid_alloc_slots(g, bits)) return ERR_NOMEM;
    } else {
        memset(g->slots, 0, ((size_t)1 << bits) * sizeof(Slot));
        g->nslots_used = 0;
    }
    return 0;
}

static int grid_insert(Grid *g, int32_t id, const double *r)
{
    Node *nd = &g->nodes[id];
    memcpy(nd->r, r, 4 * sizeof(double));
    nd->area = area_of(r);
    double w = r[2] - r[0], h = r[3] - r[1];
    double s = w > h ? w : h;
    int L = level_of(g, s);
    int64_t cx = clamp_floor((r[0] - g->ox) * g->inv[L], g->nx[L]);
    int64_t cy = clamp_floor((r[1] - g->oy) * g->inv[L], g->ny[L]);
    int32_t c = cell_get(g, L, cx, cy);
    if (c < 0) return ERR_NOMEM;
    if (s > g->smax[L]) g->smax[L] = s;
    if (nd->area < g->amin[L]) g->amin[L] = nd->area;
    if (nd->area > g->amax[L]) g->amax[L] = nd->area;
    nd->level = L;
    nd->cell = c;
    nd->prev = -1;
    nd->next = g->cells[c].head;
    if (nd->next >= 0) g->nodes[nd->next].prev = id;
    g->cells[c].head = id;
    g->level_count[L]++;
    return 0;
}

static void grid_remove(Grid *g, int32_t id)
{
    Node *nd = &g->nodes[id];
    if (nd->cell < 0) return;
    if (nd->prev >= 0)
        g->nodes[nd->prev].next = nd->next;
    else
        g->cells[nd->cell].head = nd->next;
    if (nd->next >= 0) g->nodes[nd->next].prev = nd->prev;
    g->level_count[nd->level]--;
    nd->cell = -1;
}

/* Cell range on level L whose anchors may hold a box intersecting q. */
static inline void level_range(const Grid *g, int L, const double *q, int64_t *x0, int64_t *x1,
                               int64_t *y0, int64_t *y1)
{
    double inv = g->inv[L];
    /* an intersecting box starts after q.x1 - smax; 1e-6 cells absorb rounding */
    double pad = g->smax[L] * inv + 1e-6;
    *x0 = clamp_floor((q[0] - g->ox) * inv - pad, g->nx[L]);
    *x1 = clamp_floor((q[2] - g->ox) * inv, g->nx[L]);
    *y0 = clamp_floor((q[1] - g->oy) * inv - pad, g->ny[L]);
    *y1 = clamp_floor((q[3] - g->oy) * inv, g->ny[L]);
}

/*
 * Areas a stored box may have and still reach the threshold against a query box. With
 * IoU, IoU(a, b) <= min(area) / max(area), so boxes whose area is below thr * area(q) or
 * above area(q) / thr cannot match (a relative margin of 1e-9 absorbs rounding). IoS
 * admits every area.
 */
typedef struct {
    double lo, hi;
} AreaWindow;

static inline AreaWindow area_window(double area, int metric, double thr)
{
    AreaWindow w = {0.0, HUGE_VAL};
    if (metric == METRIC_IOU && thr > 0.0) {
        w.lo = thr * area * (1.0 - 1e-9);
        w.hi = area / thr * (1.0 + 1e-9);
    }
    return w;
}

static inline int candidate(const Node *nd, const double *q, AreaWindow w)
{
    return nd->area >= w.lo && nd->area <= w.hi && intersects(nd->r, q);
}

static inline int level_outside(const Grid *g, int L, AreaWindow w)
{
    return !g->level_count[L] || g->amax[L] < w.lo || g->amin[L] > w.hi;
}

/* Push every stored node whose box intersects q and whose area is inside the window. */
static int grid_query(const Grid *g, const double *q, AreaWindow aw, IVec *out)
{
    out->n = 0;
    for (int L = 0; L < g->nlevels; L++) {
        if (level_outside(g, L, aw)) continue;
        int64_t x0, x1, y0, y1;
        level_range(g, L, q, &x0, &x1, &y0, &y1);
        double ncell = (double)(x1 - x0 + 1) * (double)(y1 - y0 + 1);
        if (ncell > (double)g->level_ncells[L]) {
            for (int32_t c = g->level_head[L]; c >= 0; c = g->cells[c].level_next)
                for (int32_t i = g->cells[c].head; i >= 0; i = g->nodes[i].next)
                    if (candidate(&g->nodes[i], q, aw) && ivec_push(out, i)) return ERR_NOMEM;
            continue;
        }
        for (int64_t cx = x0; cx <= x1; cx++) {
            for (int64_t cy = y0; cy <= y1; cy++) {
                int32_t c = cell_find(g, make_key(L, cx, cy));
                if (c < 0) continue;
                for (int32_t i = g->cells[c].head; i >= 0; i = g->nodes[i].next)
                    if (candidate(&g->nodes[i], q, aw) && ivec_push(out, i)) return ERR_NOMEM;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ scratch per call */

typedef struct {
    Grid g;
    IVec cand, pool, fresh, spare;
    unsigned char *part;
    int32_t *stamp;
    double *sums; /* wbf: per cluster 4 weighted sums, 4 plain sums, weight sum */
    int32_t *count;
    int32_t cap;
} Work;

static void work_free(Work *w)
{
    grid_free(&w->g);
    free(w->cand.a);
    free(w->pool.a);
    free(w->fresh.a);
    free(w->spare.a);
    free(w->part);
    free(w->stamp);
    free(w->sums);
    free(w->count);
    memset(w, 0, sizeof(*w));
}

static int work_reserve(Work *w, int32_t n, int mode)
{
    if (n <= w->cap) return 0;
    unsigned char *p = (unsigned char *)realloc(w->part, (size_t)n);
    if (!p) return ERR_NOMEM;
    w->part = p;
    if (mode == MODE_NMM) {
        int32_t *s = (int32_t *)realloc(w->stamp, (size_t)n * sizeof(int32_t));
        if (!s) return ERR_NOMEM;
        w->stamp = s;
    }
    if (mode == MODE_WBF) {
        double *d = (double *)realloc(w->sums, (size_t)n * 9 * sizeof(double));
        if (!d) return ERR_NOMEM;
        w->sums = d;
        int32_t *c = (int32_t *)realloc(w->count, (size_t)n * sizeof(int32_t));
        if (!c) return ERR_NOMEM;
        w->count = c;
    }
    w->cap = n;
    return 0;
}

static int32_t mark_participants(Work *w, const double *b, int32_t n)
{
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        w->part[i] = area_of(b + 4 * (size_t)i) > 0.0;
        m += w->part[i];
    }
    return m;
}

/* ------------------------------------------------------------------ nms and greedy nmm */

/*
 * Each unassigned row, in rank order, survives and takes every later unassigned row
 * with metric(survivor, row) > thr (nms) or >= thr (greedy nmm). The grid holds the
 * unassigned rows, so a row leaves it once and a survivor's query only meets rows still
 * open: one huge survivor clears everything it covers in a single pass.
 */
static int run_suppress(Work *w, const double *b, int32_t n, int metric, double thr, int strict,
                        int32_t *parent)
{
    int rc;
    Grid *g = &w->g;
    mark_participants(w, b, n);
    if ((rc = grid_setup(g, b, w->part, n))) return rc;
    for (int32_t i = 0; i < n; i++) {
        parent[i] = -1;
        if (w->part[i] && (rc = grid_insert(g, i, b + 4 * (size_t)i))) return rc;
    }
    for (int32_t s = 0; s < n; s++) {
        if (parent[s] >= 0) continue;
        parent[s] = s;
        if (!w->part[s]) continue;
        grid_remove(g, s);
        const double *bs = b + 4 * (size_t)s;
        double as = area_of(bs);
        if ((rc = grid_query(g, bs, area_window(as, metric, thr), &w->cand))) return rc;
        for (size_t k = 0; k < w->cand.n; k++) {
            int32_t i = w->cand.a[k];
            const Node *nd = &g->nodes[i];
            double m = overlap_of(bs, as, nd->r, nd->area, metric);
            if (strict ? m > thr : m >= thr) {
                parent[i] = s;
                grid_remove(g, i);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ nmm */

typedef struct {
    int have, full;
    int64_t x0, x1, y0, y1;
} Scan;

static int fresh_add_cell(Work *w, int32_t c, int32_t stamp)
{
    Grid *g = &w->g;
    for (int32_t i = g->cells[c].head; i >= 0; i = g->nodes[i].next) {
        if (w->stamp[i] == stamp) continue;
        w->stamp[i] = stamp;
        if (ivec_push(&w->fresh, i)) return ERR_NOMEM;
    }
    return 0;
}

static int fresh_add_rect(Work *w, int L, int64_t x0, int64_t x1, int64_t y0, int64_t y1,
                          int32_t stamp)
{
    for (int64_t cx = x0; cx <= x1; cx++)
        for (int64_t cy = y0; cy <= y1; cy++) {
            int32_t c = cell_find(&w->g, make_key(L, cx, cy));
            if (c >= 0 && fresh_add_cell(w, c, stamp)) return ERR_NOMEM;
        }
    return 0;
}

/*
 * Collect in w->fresh the unassigned rows whose anchor cell newly falls in the range of
 * the grown box B: only the strips between the old and the new range are scanned, so a
 * group growing along a long chain costs time proportional to its length. Levels whose
 * areas cannot match B now are skipped without recording a scan.
 */
static int fresh_extend(Work *w, Scan *scan, const double *B, AreaWindow aw, int32_t stamp)
{
    Grid *g = &w->g;
    w->fresh.n = 0;
    for (int L = 0; L < g->nlevels; L++) {
        Scan *s = &scan[L];
        if (s->full || level_outside(g, L, aw)) continue;
        int64_t x0, x1, y0, y1;
        level_range(g, L, B, &x0, &x1, &y0, &y1);
        double total = (double)(x1 - x0 + 1) * (double)(y1 - y0 + 1);
        double old = s->have ? (double)(s->x1 - s->x0 + 1) * (double)(s->y1 - s->y0 + 1) : 0.0;
        if (total - old > (double)g->level_ncells[L]) {
            for (int32_t c = g->level_head[L]; c >= 0; c = g->cells[c].level_next)
                if (fresh_add_cell(w, c, stamp)) return ERR_NOMEM;
            s->full = 1;
            continue;
        }
        if (!s->have) {
            if (fresh_add_rect(w, L, x0, x1, y0, y1, stamp)) return ERR_NOMEM;
        } else {
            /* the new range contains the old one: top, bottom, left and right strips */
            if (y0 < s->y0 && fresh_add_rect(w, L, x0, x1, y0, s->y0 - 1, stamp))
                return ERR_NOMEM;
            if (y1 > s->y1 && fresh_add_rect(w, L, x0, x1, s->y1 + 1, y1, stamp))
                return ERR_NOMEM;
            if (x0 < s->x0 && fresh_add_rect(w, L, x0, s->x0 - 1, s->y0, s->y1, stamp))
                return ERR_NOMEM;
            if (x1 > s->x1 && fresh_add_rect(w, L, s->x1 + 1, x1, s->y0, s->y1, stamp))
                return ERR_NOMEM;
        }
        s->have = 1;
        s->x0 = x0;
        s->x1 = x1;
        s->y0 = y0;
        s->y1 = y1;
    }
    return 0;
}

/* Merge the sorted fresh rows into the rank-sorted pool, dropping tombstones (-1). */
static int pool_merge_fresh(Work *w)
{
    IVec *f = &w->fresh;
    if (f->n > 1) qsort(f->a, f->n, sizeof(int32_t), cmp_i32);
    IVec *p = &w->pool, *t = &w->spare;
    t->n = 0;
    size_t i = 0, j = 0;
    while (i < p->n || j < f->n) {
        int32_t x;
        if (i < p->n && p->a[i] < 0) {
            i++;
            continue;
        }
        if (j >= f->n || (i < p->n && p->a[i] < f->a[j]))
            x = p->a[i++];
        else
            x = f->a[j++];
        if (ivec_push(t, x)) return ERR_NOMEM;
    }
    IVec tmp = *p;
    *p = *t;
    *t = tmp;
    return 0;
}

/*
 * The most confident unassigned row seeds a group with box B; repeatedly the
 * highest-ranked unassigned row with metric(B, row) >= thr joins and B becomes the
 * enclosing box of both.
 *
 * The pool holds the unassigned rows near B, sorted by rank, with merged rows left as
 * tombstones (-1). A scan walks it from the front: while B does not change, rows before
 * the scan position keep failing (their metric with B is unchanged), so the scan goes
 * on from where it is; when B grows, newly covered cells join the pool and the scan
 * restarts from the front. Rows already known to fail with the grown B are skipped for
 * good (IoU: area below thr * area(B), which only grows).
 */
static int run_nmm(Work *w, const double *b, int32_t n, int metric, double thr, int32_t *parent)
{
    int rc;
    Grid *g = &w->g;
    mark_participants(w, b, n);
    if ((rc = grid_setup(g, b, w->part, n))) return rc;
    for (int32_t i = 0; i < n; i++) {
        parent[i] = -1;
        w->stamp[i] = -1;
        if (w->part[i] && (rc = grid_insert(g, i, b + 4 * (size_t)i))) return rc;
    }
    Scan scan[MAX_LEVELS];
    for (int32_t seed = 0; seed < n; seed++) {
        if (parent[seed] >= 0) continue;
        parent[seed] = seed;
        if (!w->part[seed]) continue;
        grid_remove(g, seed);
        double B[4];
        memcpy(B, b + 4 * (size_t)seed, sizeof(B));
        double aB = area_of(B);
        AreaWindow aw = area_window(aB, metric, thr);
        memset(scan, 0, sizeof(Scan) * (size_t)g->nlevels);
        w->pool.n = 0;
        if ((rc = fresh_extend(w, scan, B, aw, seed)) || (rc = pool_merge_fresh(w))) return rc;
        size_t dead = 0, head = 0;
        for (;;) {
            int grown = 0;
            while (head < w->pool.n && w->pool.a[head] < 0) head++;
            for (size_t k = head; k < w->pool.n && !grown; k++) {
                int32_t i = w->pool.a[k];
                if (i < 0) continue;
                const Node *nd = &g->nodes[i];
                if (nd->area < aw.lo) { /* can never match a B at least this large */
                    w->pool.a[k] = -1;
                    dead++;
                    continue;
                }
                if (nd->area > aw.hi || !intersects(nd->r, B)) continue;
                if (!(overlap_of(B, aB, nd->r, nd->area, metric) >= thr)) continue;
                parent[i] = seed;
                grid_remove(g, i);
                w->pool.a[k] = -1;
                dead++;
                const double *r = nd->r;
                if (r[0] < B[0]) B[0] = r[0], grown = 1;
                if (r[1] < B[1]) B[1] = r[1], grown = 1;
                if (r[2] > B[2]) B[2] = r[2], grown = 1;
                if (r[3] > B[3]) B[3] = r[3], grown = 1;
            }
            if (!grown) break; /* a full scan with B unchanged found nothing more */
            aB = area_of(B);
            aw = area_window(aB, metric, thr);
            if ((rc = fresh_extend(w, scan, B, aw, seed))) return rc;
            if (w->fresh.n || 2 * dead > w->pool.n) { /* also drops the tombstones */
                if ((rc = pool_merge_fresh(w))) return rc;
                dead = 0;
                head = 0;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ wbf */

/*
 * Clusters are stored in the grid by their current fused box, under the id of their
 * first member. Row j joins the cluster whose fused box has the highest metric with it
 * when that is > thr (ties: the earliest cluster, i.e. the smallest id); otherwise it
 * starts a cluster. The fused box of a cluster of one is its box; of more, the
 * confidence-weighted mean accumulated in rank order (the plain mean when all weights
 * are 0).
 */
static int run_wbf(Work *w, const double *b, const double *conf, int32_t n, int metric,
                   double thr, int32_t *parent)
{
    int rc;
    Grid *g = &w->g;
    mark_participants(w, b, n);
    if ((rc = grid_setup(g, b, w->part, n))) return rc;
    for (int32_t j = 0; j < n; j++) {
        parent[j] = j;
        if (!w->part[j]) continue;
        const double *bj = b + 4 * (size_t)j;
        double aj = area_of(bj);
        if ((rc = grid_query(g, bj, area_window(aj, metric, thr), &w->cand))) return rc;
        int32_t best = -1;
        double best_m = 0.0;
        for (size_t k = 0; k < w->cand.n; k++) {
            int32_t c = w->cand.a[k];
            const Node *nd = &g->nodes[c];
            double m = overlap_of(nd->r, nd->area, bj, aj, metric);
            if (!(m > thr)) continue;
            if (best < 0 || m > best_m || (m == best_m && c < best)) {
                best = c;
                best_m = m;
            }
        }
        double *s;
        double wj = conf[j];
        if (best < 0) {
            s = w->sums + 9 * (size_t)j;
            for (int d = 0; d < 4; d++) {
                s[d] = wj * bj[d];
                s[4 + d] = bj[d];
            }
            s[8] = wj;
            w->count[j] = 1;
            if ((rc = grid_insert(g, j, bj))) return rc;
            continue;
        }
        parent[j] = best;
        s = w->sums + 9 * (size_t)best;
        for (int d = 0; d < 4; d++) {
            s[d] += wj * bj[d];
            s[4 + d] += bj[d];
        }
        s[8] += wj;
        w->count[best] += 1;
        double fused[4];
        for (int d = 0; d < 4; d++)
            fused[d] = s[8] > 0.0 ? s[d] / s[8] : s[4 + d] / (double)w->count[best];
        grid_remove(g, best);
        if (area_of(fused) > 0.0) {
            if ((rc = grid_insert(g, best, fused))) return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ overlapping pairs */

typedef struct {
    int64_t *a;
    size_t n, cap;
} LVec;

static int lvec_push2(LVec *v, int64_t x, int64_t y)
{
    if (v->n + 2 > v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        int64_t *p = (int64_t *)realloc(v->a, cap * sizeof(int64_t));
        if (!p) return ERR_NOMEM;
        v->a = p;
        v->cap = cap;
    }
    v->a[v->n++] = x;
    v->a[v->n++] = y;
    return 0;
}

static int run_pairs(Work *w, const double *b, int32_t n, int64_t base, LVec *out)
{
    int rc;
    Grid *g = &w->g;
    mark_participants(w, b, n);
    if ((rc = grid_setup(g, b, w->part, n))) return rc;
    for (int32_t i = 0; i < n; i++)
        if (w->part[i] && (rc = grid_insert(g, i, b + 4 * (size_t)i))) return rc;
    for (int32_t j = 0; j < n; j++) {
        if (!w->part[j]) continue;
        const double *bj = b + 4 * (size_t)j;
        AreaWindow all = {0.0, HUGE_VAL};
        if ((rc = grid_query(g, bj, all, &w->cand))) return rc;
        size_t m = 0;
        for (size_t k = 0; k < w->cand.n; k++) {
            int32_t i = w->cand.a[k];
            if (i > j && inter_of(bj, g->nodes[i].r) > 0.0) w->cand.a[m++] = i;
        }
        if (m > 1) qsort(w->cand.a, m, sizeof(int32_t), cmp_i32);
        for (size_t k = 0; k < m; k++)
            if (lvec_push2(out, base + j, base + w->cand.a[k])) return ERR_NOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------------ Python bindings */

static int check_offsets(const int64_t *off, Py_ssize_t nseg, Py_ssize_t n)
{
    if (off[0] != 0 || off[nseg] != n) return 0;
    for (Py_ssize_t s = 0; s < nseg; s++)
        if (off[s + 1] < off[s]) return 0;
    return 1;
}

static int largest_segment(const int64_t *off, Py_ssize_t nseg, int32_t *out)
{
    int64_t big = 0;
    for (Py_ssize_t s = 0; s < nseg; s++)
        if (off[s + 1] - off[s] > big) big = off[s + 1] - off[s];
    if (big >= INT32_MAX) return 0;
    *out = (int32_t)big;
    return 1;
}

PyDoc_STRVAR(group_doc,
             "group(boxes, confidence, offsets, parent, mode, metric, threshold)\n--\n\n"
             "Greedy grouping over rank-ordered float64 boxes split into segments.\n\n"
             "boxes: n*4 float64; confidence: n float64 (read in wbf mode only);\n"
             "offsets: segment bounds, int64; parent: writable n int64, receives the row of\n"
             "each row's survivor. mode: 0 nms, 1 greedy_nmm, 2 nmm, 3 wbf;\n"
             "metric: 0 iou, 1 ios.");

static PyObject *py_group(PyObject *self, PyObject *args)
{
    Py_buffer bx, cf, of, pa;
    int mode, metric;
    double thr;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*iid", &bx, &cf, &of, &pa, &mode, &metric, &thr))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = bx.len / 32;
    Py_ssize_t nseg = of.len / 8 - 1;
    int32_t big = 0;
    if (bx.len % 32 || cf.len != n * 8 || of.len % 8 || nseg < 0 || pa.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "group: buffer sizes do not match");
        goto done;
    }
    if (mode < MODE_NMS || mode > MODE_WBF || (metric != METRIC_IOU && metric != METRIC_IOS)) {
        PyErr_SetString(PyExc_ValueError, "group: unknown mode or metric");
        goto done;
    }
    const int64_t *off = (const int64_t *)of.buf;
    if (!check_offsets(off, nseg, n) || !largest_segment(off, nseg, &big)) {
        PyErr_SetString(PyExc_ValueError, "group: bad segment offsets");
        goto done;
    }
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS;
    Work w;
    memset(&w, 0, sizeof(w));
    int32_t *local = (int32_t *)malloc((size_t)(big ? big : 1) * sizeof(int32_t));
    if (!local || work_reserve(&w, big, mode)) rc = ERR_NOMEM;
    const double *boxes = (const double *)bx.buf;
    const double *conf = (const double *)cf.buf;
    int64_t *parent = (int64_t *)pa.buf;
    for (Py_ssize_t s = 0; s < nseg && !rc; s++) {
        int64_t a = off[s];
        int32_t m = (int32_t)(off[s + 1] - a);
        if (!m) continue;
        const double *b = boxes + 4 * a;
        switch (mode) {
        case MODE_NMS:
            rc = run_suppress(&w, b, m, metric, thr, 1, local);
            break;
        case MODE_GREEDY_NMM:
            rc = run_suppress(&w, b, m, metric, thr, 0, local);
            break;
        case MODE_NMM:
            rc = run_nmm(&w, b, m, metric, thr, local);
            break;
        default:
            rc = run_wbf(&w, b, conf + a, m, metric, thr, local);
        }
        for (int32_t i = 0; i < m && !rc; i++) parent[a + i] = a + local[i];
    }
    free(local);
    work_free(&w);
    Py_END_ALLOW_THREADS;
    if (rc) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&cf);
    PyBuffer_Release(&of);
    PyBuffer_Release(&pa);
    return result;
}

PyDoc_STRVAR(pairs_doc, "pairs(boxes, offsets)\n--\n\n"
                        "Rows (i, j), i < j, of the same segment whose float64 boxes have a\n"
                        "positive intersection area; bytes of int64 pairs, sorted.");

static PyObject *py_pairs(PyObject *self, PyObject *args)
{
    Py_buffer bx, of;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*", &bx, &of)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = bx.len / 32;
    Py_ssize_t nseg = of.len / 8 - 1;
    int32_t big = 0;
    if (bx.len % 32 || of.len % 8 || nseg < 0) {
        PyErr_SetString(PyExc_ValueError, "pairs: buffer sizes do not match");
        goto done;
    }
    const int64_t *off = (const int64_t *)of.buf;
    if (!check_offsets(off, nseg, n) || !largest_segment(off, nseg, &big)) {
        PyErr_SetString(PyExc_ValueError, "pairs: bad segment offsets");
        goto done;
    }
    int rc = 0;
    LVec out = {NULL, 0, 0};
    Py_BEGIN_ALLOW_THREADS;
    Work w;
    memset(&w, 0, sizeof(w));
    if (work_reserve(&w, big, MODE_NMS)) rc = ERR_NOMEM;
    const double *boxes = (const double *)bx.buf;
    for (Py_ssize_t s = 0; s < nseg && !rc; s++) {
        int64_t a = off[s];
        int32_t m = (int32_t)(off[s + 1] - a);
        if (m > 1) rc = run_pairs(&w, boxes + 4 * a, m, a, &out);
    }
    work_free(&w);
    Py_END_ALLOW_THREADS;
    if (rc)
        PyErr_NoMemory();
    else
        result = PyBytes_FromStringAndSize((const char *)out.a,
                                           (Py_ssize_t)(out.n * sizeof(int64_t)));
    free(out.a);
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&of);
    return result;
}

static PyMethodDef native_methods[] = {
    {"group", py_group, METH_VARARGS, group_doc},
    {"pairs", py_pairs, METH_VARARGS, pairs_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    "_native",
    "Sequential greedy grouping of boxes over a hierarchical grid (tilewise.merge).",
    0,
    native_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&native_module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "MODE_NMS", MODE_NMS) ||
        PyModule_AddIntConstant(m, "MODE_GREEDY_NMM", MODE_GREEDY_NMM) ||
        PyModule_AddIntConstant(m, "MODE_NMM", MODE_NMM) ||
        PyModule_AddIntConstant(m, "MODE_WBF", MODE_WBF) ||
        PyModule_AddIntConstant(m, "METRIC_IOU", METRIC_IOU) ||
        PyModule_AddIntConstant(m, "METRIC_IOS", METRIC_IOS)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
