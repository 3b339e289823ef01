/*
 * tilewise.kernels._native: sequential greedy grouping of boxes over a spatial index.
 *
 * One routine, four modes (nms, greedy_nmm, nmm, wbf), plus the overlapping-pairs query.
 * Boxes arrive as float64 xyxy rows already sorted by segment (a class, or everything
 * when class-agnostic) and, inside a segment, by rank (descending confidence, stable).
 * The routine writes, for every row, the row of the survivor it belongs to. Inside a
 * segment a row is named by its rank.
 *
 * Spatial index: a hierarchical uniform grid. A box whose larger side s satisfies
 * s <= 2^e lives on level L = e - k0 (clamped), whose square cells are 2^(k0 + L) wide,
 * in the cell holding its (x1, y1) corner. k0 is the median size exponent, so most boxes
 * sit on the first levels and a query touches a few cells per level. Cells live in a hash
 * table keyed by (level, cx, cy): memory follows the occupied cells, never the canvas.
 * Each cell keeps its items (box, area, rank) contiguously in one arena, so scanning a
 * cell streams memory instead of chasing pointers; removal swaps the last item in. A
 * query scans, on every level whose area range can still match, the cells whose anchors
 * can hold an intersecting box, or the level's whole cell list when that is shorter.
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

static inline double dmin(double a, double b) { return a < b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }

static inline double inter_of(const double *a, const double *b)
{
    double w = dmin(a[2], b[2]) - dmax(a[0], b[0]);
    double h = dmin(a[3], b[3]) - dmax(a[1], b[1]);
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
        denom = dmin(area_a, area_b);
    return denom > 0.0 ? inter / denom : 0.0;
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

/* ------------------------------------------------------------------ growable arrays */

typedef struct {
    double r[4];
    double area;
    int32_t rank;
    int32_t cell;
} Item; /* 48 bytes */

#define DEFINE_VEC(Name, T)                                                                    \
    typedef struct {                                                                           \
        T *a;                                                                                  \
        size_t n, cap;                                                                         \
    } Name;                                                                                    \
    static int Name##_reserve(Name *v, size_t need)                                            \
    {                                                                                          \
        if (need <= v->cap) return 0;                                                          \
        size_t cap = v->cap ? v->cap : 64;                                                     \
        while (cap < need) cap *= 2;                                                           \
        T *p = (T *)realloc(v->a, cap * sizeof(T));                                            \
        if (!p) return ERR_NOMEM;                                                              \
        v->a = p;                                                                              \
        v->cap = cap;                                                                          \
        return 0;                                                                              \
    }                                                                                          \
    static inline int Name##_push(Name *v, T x)                                                \
    {                                                                                          \
        if (v->n == v->cap && Name##_reserve(v, v->n + 1)) return ERR_NOMEM;                   \
        v->a[v->n++] = x;                                                                      \
        return 0;                                                                              \
    }

DEFINE_VEC(IVec, int32_t)
DEFINE_VEC(LVec, int64_t)
DEFINE_VEC(ItemVec, Item)

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

static void sort_i32(int32_t *a, size_t n)
{
    if (n > 24) {
        qsort(a, n, sizeof(int32_t), cmp_i32);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        int32_t x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > x; j--) a[j] = a[j - 1];
        a[j] = x;
    }
}

/* ------------------------------------------------------------------ the grid */

typedef struct {
    int64_t start;      /* first arena slot */
    int32_t count, cap; /* items stored, slots reserved */
    int32_t level, level_next;
    int32_t cx, cy;
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
    double smax[MAX_LEVELS];                   /* largest side ever stored on the level */
    double amin[MAX_LEVELS], amax[MAX_LEVELS]; /* area range ever stored on the level */
    int64_t nx[MAX_LEVELS], ny[MAX_LEVELS];
    int32_t level_head[MAX_LEVELS]; /* list of the level's cells */
    int32_t level_ncells[MAX_LEVELS];
    int32_t level_count[MAX_LEVELS]; /* items stored now */
    Cell *cells;
    int32_t ncells, cap_cells;
    Slot *slots;
    uint64_t mask;
    int bits;
    int32_t nslots_used;
    Item *arena;
    int64_t arena_len, arena_cap;
    int64_t *pos;  /* per rank: arena slot, -1 when not stored */
    int32_t *home; /* per rank: cell of its own box during setup */
    int32_t *exps; /* per rank: size exponent during setup */
    int32_t cap_rows;
} Grid;

static void grid_free(Grid *g)
{
    free(g->cells);
    free(g->slots);
    free(g->arena);
    free(g->pos);
    free(g->home);
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

/* The cell at (level, cx, cy), created empty when missing; -1 when out of memory. */
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
    Cell *c = &g->cells[id];
    c->start = 0;
    c->count = c->cap = 0;
    c->level = level;
    c->level_next = g->level_head[level];
    c->cx = (int32_t)cx;
    c->cy = (int32_t)cy;
    g->level_head[level] = id;
    g->level_ncells[level]++;
    g->slots[h].key = key;
    g->slots[h].cell = id;
    g->nslots_used++;
    if ((uint64_t)g->nslots_used * 2 > g->mask + 1 && grid_rehash(g)) return -1;
    return id;
}

static inline int64_t clamp_floor(double t, int64_t n)
{
    if (!(t > 0.0)) return 0;
    if (t >= (double)(n - 1)) return n - 1;
    return (int64_t)t;
}

/* Level and anchor cell coordinates of a box. */
static inline void locate(const Grid *g, const double *r, int *L, int64_t *cx, int64_t *cy)
{
    double w = r[2] - r[0], h = r[3] - r[1];
    int e;
    frexp(w > h ? w : h, &e); /* size < 2^e */
    int level = e - g->k0;
    if (level < 0) level = 0;
    if (level >= g->nlevels) level = g->nlevels - 1;
    *L = level;
    *cx = clamp_floor((r[0] - g->ox) * g->inv[level], g->nx[level]);
    *cy = clamp_floor((r[1] - g->oy) * g->inv[level], g->ny[level]);
}

static inline void level_note(Grid *g, int L, const Item *it)
{
    double w = it->r[2] - it->r[0], h = it->r[3] - it->r[1];
    double s = w > h ? w : h;
    if (s > g->smax[L]) g->smax[L] = s;
    if (it->area < g->amin[L]) g->amin[L] = it->area;
    if (it->area > g->amax[L]) g->amax[L] = it->area;
}

static int grid_reserve_rows(Grid *g, int32_t n)
{
    if (n <= g->cap_rows) return 0;
    int64_t *p = (int64_t *)realloc(g->pos, (size_t)n * sizeof(int64_t));
    if (!p) return ERR_NOMEM;
    g->pos = p;
    int32_t *h = (int32_t *)realloc(g->home, (size_t)n * sizeof(int32_t));
    if (!h) return ERR_NOMEM;
    g->home = h;
    int32_t *e = (int32_t *)realloc(g->exps, (size_t)n * sizeof(int32_t));
    if (!e) return ERR_NOMEM;
    g->exps = e;
    g->cap_rows = n;
    return 0;
}

static int grid_reserve_arena(Grid *g, int64_t need)
{
    if (need <= g->arena_cap) return 0;
    int64_t cap = g->arena_cap ? g->arena_cap : 1024;
    while (cap < need) cap *= 2;
    Item *a = (Item *)realloc(g->arena, (size_t)cap * sizeof(Item));
    if (!a) return ERR_NOMEM;
    g->arena = a;
    g->arena_cap = cap;
    return 0;
}

/*
 * Prepare the grid for one segment of n rank-ordered boxes. Only boxes of positive area
 * (part[i]) take part: they are the only ones that can overlap anything. With fill, they
 * are all stored, each cell's items side by side in the arena; without, the grid starts
 * empty.
 */
static int grid_setup(Grid *g, const double *boxes, const unsigned char *part, int32_t n,
                      int fill)
{
    if (grid_reserve_rows(g, n)) return ERR_NOMEM;
    double x0 = HUGE_VAL, y0 = HUGE_VAL, x1 = -HUGE_VAL, y1 = -HUGE_VAL;
    int emin = INT32_MAX, emax = INT32_MIN;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        g->pos[i] = -1;
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
    /* median size exponent, by counting (the range is small in practice) */
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
        frexp(extent, &ee); /* extent < 2^ee; level-0 cells are 2^k0 wide */
        if (k0 < ee - AXIS_BITS) k0 = ee - AXIS_BITS;
    }
    if (k0 < emax - (MAX_LEVELS - 1)) k0 = emax - (MAX_LEVELS - 1);
    int nlevels = emax - k0 + 1;
    if (nlevels < 1) nlevels = 1;
    g->k0 = k0;
    g->nlevels = nlevels;
    g->ox = x0;
    g->oy = y0;
    for (int L = 0; L < nlevels; L++) {
        g->inv[L] = ldexp(1.0, -(k0 + L));
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
    /* a table sized for the segment; it grows with the occupied cells */
    int bits = 4;
    while (((int64_t)1 << bits) < 2 * (int64_t)m && bits < 16) bits++;
    if (!g->slots || g->bits != bits) {
        if (grid_alloc_slots(g, bits)) return ERR_NOMEM;
    } else {
        memset(g->slots, 0, ((size_t)1 << bits) * sizeof(Slot));
        g->nslots_used = 0;
    }
    g->arena_len = 0;
    if (!fill) return 0; /* items arrive one by one (grid_insert), cells grow as needed */
    /* count the boxes of each cell, lay the cells out in the arena, then place them */
    for (int32_t i = 0; i < n; i++) {
        if (!part[i]) continue;
        int L;
        int64_t cx, cy;
        locate(g, boxes + 4 * (size_t)i, &L, &cx, &cy);
        int32_t c = cell_get(g, L, cx, cy);
        if (c < 0) return ERR_NOMEM;
        g->cells[c].cap++;
        g->home[i] = c;
    }
    int64_t start = 0;
    for (int32_t c = 0; c < g->ncells; c++) {
        g->cells[c].start = start;
        start += g->cells[c].cap;
    }
    if (grid_reserve_arena(g, start)) return ERR_NOMEM;
    g->arena_len = start;
    for (int32_t i = 0; i < n; i++) {
        if (!part[i]) continue;
        Cell *c = &g->cells[g->home[i]];
        int64_t s = c->start + c->count++;
        Item *it = &g->arena[s];
        memcpy(it->r, boxes + 4 * (size_t)i, 4 * sizeof(double));
        it->area = area_of(it->r);
        it->rank = i;
        it->cell = g->home[i];
        g->pos[i] = s;
        level_note(g, c->level, it);
        g->level_count[c->level]++;
    }
    return 0;
}

/* Move a full cell's items to a larger run at the end of the arena. */
static int cell_grow(Grid *g, int32_t c)
{
    Cell *cl = &g->cells[c];
    int32_t cap = cl->cap ? 2 * cl->cap : 4;
    if (grid_reserve_arena(g, g->arena_len + cap)) return ERR_NOMEM;
    cl = &g->cells[c];
    Item *dst = g->arena + g->arena_len;
    memcpy(dst, g->arena + cl->start, (size_t)cl->count * sizeof(Item));
    for (int32_t k = 0; k < cl->count; k++) g->pos[dst[k].rank] = g->arena_len + k;
    cl->start = g->arena_len;
    cl->cap = cap;
    g->arena_len += cap;
    return 0;
}

static int grid_insert(Grid *g, int32_t rank, const double *r)
{
    int L;
    int64_t cx, cy;
    locate(g, r, &L, &cx, &cy);
    int32_t c = cell_get(g, L, cx, cy);
    if (c < 0) return ERR_NOMEM;
    if (g->cells[c].count == g->cells[c].cap && cell_grow(g, c)) return ERR_NOMEM;
    Cell *cl = &g->cells[c];
    int64_t s = cl->start + cl->count++;
    Item *it = &g->arena[s];
    memcpy(it->r, r, 4 * sizeof(double));
    it->area = area_of(r);
    it->rank = rank;
    it->cell = c;
    g->pos[rank] = s;
    level_note(g, L, it);
    g->level_count[L]++;
    return 0;
}

static void grid_remove(Grid *g, int32_t rank)
{
    int64_t s = g->pos[rank];
    if (s < 0) return;
    Cell *cl = &g->cells[g->arena[s].cell];
    int64_t last = cl->start + cl->count - 1;
    if (s != last) {
        g->arena[s] = g->arena[last];
        g->pos[g->arena[s].rank] = s;
    }
    cl->count--;
    g->level_count[cl->level]--;
    g->pos[rank] = -1;
}

/* Replace a stored box, moving it only when its level or anchor cell changes. */
static int grid_update(Grid *g, int32_t rank, const double *r)
{
    int64_t s = g->pos[rank];
    int L;
    int64_t cx, cy;
    locate(g, r, &L, &cx, &cy);
    if (s >= 0 && cell_find(g, make_key(L, cx, cy)) == g->arena[s].cell) {
        Item *it = &g->arena[s];
        memcpy(it->r, r, 4 * sizeof(double));
        it->area = area_of(r);
        level_note(g, L, it);
        return 0;
    }
    grid_remove(g, rank);
    return grid_insert(g, rank, r);
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

static inline int level_outside(const Grid *g, int L, AreaWindow w)
{
    return !g->level_count[L] || g->amax[L] < w.lo || g->amin[L] > w.hi;
}

static inline int cell_candidates(const Grid *g, int32_t c, const double *q, AreaWindow aw,
                                  LVec *out)
{
    const Cell *cl = &g->cells[c];
    for (int64_t s = cl->start, e = cl->start + cl->count; s < e; s++) {
        const Item *it = &g->arena[s];
        if (it->area >= aw.lo && it->area <= aw.hi && intersects(it->r, q) &&
            LVec_push(out, s))
            return ERR_NOMEM;
    }
    return 0;
}

/* Arena slots of the stored items that intersect q and whose area is in the window. */
static int grid_query(const Grid *g, const double *q, AreaWindow aw, LVec *out)
{
    out->n = 0;
    for (int L = 0; L < g->nlevels; L++) {
        if (level_outside(g, L, aw)) continue;
        int64_t x0, x1, y0, y1;
        level_range(g, L, q, &x0, &x1, &y0, &y1);
        double ncell = (double)(x1 - x0 + 1) * (double)(y1 - y0 + 1);
        if (ncell > (double)g->level_ncells[L]) {
            for (int32_t c = g->level_head[L]; c >= 0; c = g->cells[c].level_next)
                if (cell_candidates(g, c, q, aw, out)) return ERR_NOMEM;
            continue;
        }
        for (int64_t cx = x0; cx <= x1; cx++)
            for (int64_t cy = y0; cy <= y1; cy++) {
                int32_t c = cell_find(g, make_key(L, cx, cy));
                if (c >= 0 && cell_candidates(g, c, q, aw, out)) return ERR_NOMEM;
            }
    }
    return 0;
}

/* ------------------------------------------------------------------ wait heaps (nmm) */

/*
 * Rows near a group's box B that cannot match it yet wait in one of five heaps, by the
 * first reason found: wholly right of, left of, below or above B, or (IoU) too large
 * for its area window. B only grows, so each reason can only clear, and it clears in
 * key order: when B grows, each heap pops exactly the rows whose reason cleared.
 */
enum { WAIT_RIGHT, WAIT_LEFT, WAIT_BELOW, WAIT_ABOVE, WAIT_AREA, NWAIT };

typedef struct {
    double key;
    Item it;
} Waiting;

DEFINE_VEC(WaitHeap, Waiting)

/* Append without ordering; the heap is put in order when it is next needed (heap_fix). */
static inline int wait_add(WaitHeap *h, double key, const Item *it)
{
    Waiting x;
    x.key = key;
    x.it = *it;
    return WaitHeap_push(h, x);
}

static void sift_down(Waiting *a, size_t n, size_t i)
{
    Waiting x = a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && a[c + 1].key < a[c].key) c++;
        if (x.key <= a[c].key) break;
        a[i] = a[c];
        i = c;
    }
    a[i] = x;
}

/*
 * Restore the heap order over the rows appended since the last fix: sift each up when
 * they are few, rebuild bottom-up in linear time otherwise. Groups that never grow never
 * pay for ordering their waiting rows.
 */
static void heap_fix(WaitHeap *h, size_t *ordered)
{
    Waiting *a = h->a;
    if (*ordered == h->n) return;
    if (4 * (h->n - *ordered) > *ordered) {
        for (size_t i = h->n / 2; i-- > 0;) sift_down(a, h->n, i);
    } else {
        for (size_t i = *ordered; i < h->n; i++) {
            Waiting x = a[i];
            size_t j = i;
            while (j > 0 && a[(j - 1) / 2].key > x.key) {
                a[j] = a[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            a[j] = x;
        }
    }
    *ordered = h->n;
}

static Item heap_pop(WaitHeap *h)
{
    Item top = h->a[0].it;
    h->a[0] = h->a[--h->n];
    if (h->n) sift_down(h->a, h->n, 0);
    return top;
}

typedef struct {
    WaitHeap wait[NWAIT];
    size_t ordered[NWAIT]; /* length of each heap's ordered prefix */
} Waits;

/* ------------------------------------------------------------------ scratch per call */

typedef struct {
    Grid g;
    LVec cand;
    IVec match;
    ItemVec fresh, failing, passed;
    WaitHeap arrivals;
    Waits waits;
    unsigned char *part;
    double *sums; /* wbf: per cluster 4 weighted sums, 4 plain sums, weight sum */
    int32_t *count;
    int32_t cap;
} Work;

static void work_free(Work *w)
{
    grid_free(&w->g);
    free(w->cand.a);
    free(w->match.a);
    free(w->fresh.a);
    free(w->failing.a);
    free(w->passed.a);
    free(w->arrivals.a);
    for (int h = 0; h < NWAIT; h++) free(w->waits.wait[h].a);
    free(w->part);
    free(w->sums);
    free(w->count);
    memset(w, 0, sizeof(*w));
}

static int work_reserve(Work *w, int32_t n, int mode)
{
    if (n <= w->cap) return 0;
    unsigned char *p = (unsigned char *)realloc(w->part, (size_t)(n ? n : 1));
    if (!p) return ERR_NOMEM;
    w->part = p;
    if (mode == MODE_WBF) {
        double *d = (double *)realloc(w->sums, (size_t)(n ? n : 1) * 9 * sizeof(double));
        if (!d) return ERR_NOMEM;
        w->sums = d;
        int32_t *c = (int32_t *)realloc(w->count, (size_t)(n ? n : 1) * sizeof(int32_t));
        if (!c) return ERR_NOMEM;
        w->count = c;
    }
    w->cap = n;
    return 0;
}

static void mark_participants(Work *w, const double *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++) w->part[i] = area_of(b + 4 * (size_t)i) > 0.0;
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
    if ((rc = grid_setup(g, b, w->part, n, 1))) return rc;
    for (int32_t i = 0; i < n; i++) parent[i] = -1;
    for (int32_t s = 0; s < n; s++) {
        if (parent[s] >= 0) continue;
        parent[s] = s;
        if (!w->part[s]) continue;
        grid_remove(g, s);
        const double *bs = b + 4 * (size_t)s;
        double as = area_of(bs);
        if ((rc = grid_query(g, bs, area_window(as, metric, thr), &w->cand))) return rc;
        w->match.n = 0;
        for (size_t k = 0; k < w->cand.n; k++) {
            const Item *it = &g->arena[w->cand.a[k]];
            double m = overlap_of(bs, as, it->r, it->area, metric);
            if ((strict ? m > thr : m >= thr) && IVec_push(&w->match, it->rank)) return ERR_NOMEM;
        }
        for (size_t k = 0; k < w->match.n; k++) {
            parent[w->match.a[k]] = s;
            grid_remove(g, w->match.a[k]);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ nmm */

typedef struct {
    int have, full;
    double spent; /* cells looked up so far */
    int64_t x0, x1, y0, y1;
} Scan;

/* Send a row near B to the candidates (w->fresh), a wait heap, or nowhere. */
static int route(Work *w, Waits *ws, const Item *it, const double *B, AreaWindow aw)
{
    if (it->area < aw.lo) return 0; /* can never match a B at least this large */
    if (it->r[0] >= B[2]) return wait_add(&ws->wait[WAIT_RIGHT], it->r[0], it);
    if (it->r[2] <= B[0]) return wait_add(&ws->wait[WAIT_LEFT], -it->r[2], it);
    if (it->r[1] >= B[3]) return wait_add(&ws->wait[WAIT_BELOW], it->r[1], it);
    if (it->r[3] <= B[1]) return wait_add(&ws->wait[WAIT_ABOVE], -it->r[3], it);
    if (it->area > aw.hi) return wait_add(&ws->wait[WAIT_AREA], it->area, it);
    return ItemVec_push(&w->fresh, *it);
}

/* After B grew: route again the waiting rows whose reason cleared. */
static int wake(Work *w, Waits *ws, const double *B, AreaWindow aw)
{
    const double limit[NWAIT] = {B[2], -B[0], B[3], -B[1], aw.hi};
    /* a popped row never goes back to a heap before its own in this order */
    for (int h = 0; h < NWAIT; h++) {
        WaitHeap *hp = &ws->wait[h];
        heap_fix(hp, &ws->ordered[h]);
        while (hp->n && (h == WAIT_AREA ? hp->a[0].key <= limit[h] : hp->a[0].key < limit[h])) {
            Item it = heap_pop(hp);
            ws->ordered[h] = hp->n;
            if (route(w, ws, &it, B, aw)) return ERR_NOMEM;
        }
    }
    return 0;
}

static int route_cell(Work *w, Waits *ws, int32_t c, const double *B, AreaWindow aw)
{
    const Cell *cl = &w->g.cells[c];
    const Item *src = w->g.arena + cl->start;
    for (int32_t i = 0; i < cl->count; i++)
        if (route(w, ws, &src[i], B, aw)) return ERR_NOMEM;
    return 0;
}

static int route_rect(Work *w, Waits *ws, int L, int64_t x0, int64_t x1, int64_t y0, int64_t y1,
                      const double *B, AreaWindow aw)
{
    for (int64_t cx = x0; cx <= x1; cx++)
        for (int64_t cy = y0; cy <= y1; cy++) {
            int32_t c = cell_find(&w->g, make_key(L, cx, cy));
            if (c >= 0 && route_cell(w, ws, c, B, aw)) return ERR_NOMEM;
        }
    return 0;
}

/*
 * Route the unassigned rows whose anchor cell newly falls in the range of the (grown)
 * box B. Only the strips between the recorded and the new range are looked up, and once
 * a group has looked up more cells on a level than the level has, the level's cell list
 * is read whole, once (skipping the recorded range): a group costs at most about twice
 * its level's cells, however it grows. Levels whose areas cannot match B now are left
 * for later, unrecorded.
 */
static int discover(Work *w, Waits *ws, Scan *scan, const double *B, AreaWindow aw)
{
    Grid *g = &w->g;
    for (int L = 0; L < g->nlevels; L++) {
        Scan *s = &scan[L];
        if (s->full || level_outside(g, L, aw)) continue;
        int64_t x0, x1, y0, y1;
        level_range(g, L, B, &x0, &x1, &y0, &y1);
        double total = (double)(x1 - x0 + 1) * (double)(y1 - y0 + 1);
        double old = s->have ? (double)(s->x1 - s->x0 + 1) * (double)(s->y1 - s->y0 + 1) : 0.0;
        if (s->spent + (total - old) > (double)g->level_ncells[L]) {
            for (int32_t c = g->level_head[L]; c >= 0; c = g->cells[c].level_next) {
                const Cell *cl = &g->cells[c];
                if (s->have && cl->cx >= s->x0 && cl->cx <= s->x1 && cl->cy >= s->y0 &&
                    cl->cy <= s->y1)
                    continue;
                if (route_cell(w, ws, c, B, aw)) return ERR_NOMEM;
            }
            s->full = 1;
            continue;
        }
        s->spent += total - old;
        if (!s->have) {
            if (route_rect(w, ws, L, x0, x1, y0, y1, B, aw)) return ERR_NOMEM;
        } else {
            /* the new range contains the old one: top, bottom, left and right strips */
            if (y0 < s->y0 && route_rect(w, ws, L, x0, x1, y0, s->y0 - 1, B, aw))
                return ERR_NOMEM;
            if (y1 > s->y1 && route_rect(w, ws, L, x0, x1, s->y1 + 1, y1, B, aw))
                return ERR_NOMEM;
            if (x0 < s->x0 && route_rect(w, ws, L, x0, s->x0 - 1, s->y0, s->y1, B, aw))
                return ERR_NOMEM;
            if (x1 > s->x1 && route_rect(w, ws, L, s->x1 + 1, x1, s->y0, s->y1, B, aw))
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

/*
 * The most confident unassigned row seeds a group with box B; repeatedly the
 * highest-ranked unassigned row with metric(B, row) >= thr joins and B becomes the
 * enclosing box of both.
 *
 * Rows near B are copied out of the grid once per group (discover). Those that could
 * match B now (intersecting it, area in the window) are candidates; the others wait in
 * heaps until B grows enough (wake). Candidates sit in a rank-keyed heap (arrivals) and
 * a stack of rows already found failing, smallest rank on top; together they are walked
 * in rank order. While B does not change, rows found failing stay failing (their metric
 * with B is unchanged), so the walk goes on; when B grows, the rows found failing go back
 * on the stack in order and the next walk starts again from the smallest rank. A walk
 * costs the failing rows it passes plus a heap pop per arrival, so a group that grows
 * one row at a time through a million candidates stays near-linear.
 */
static int run_nmm(Work *w, const double *b, int32_t n, int metric, double thr, int32_t *parent)
{
    int rc;
    Grid *g = &w->g;
    Waits *ws = &w->waits;
    WaitHeap *arrivals = &w->arrivals;
    ItemVec *failing = &w->failing, *passed = &w->passed;
    mark_participants(w, b, n);
    if ((rc = grid_setup(g, b, w->part, n, 1))) return rc;
    for (int32_t i = 0; i < n; i++) parent[i] = -1;
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
        for (int h = 0; h < NWAIT; h++) ws->wait[h].n = ws->ordered[h] = 0;
        arrivals->n = 0;
        size_t arrivals_ordered = 0;
        failing->n = 0;
        w->fresh.n = 0;
        if ((rc = discover(w, ws, scan, B, aw))) return rc;
        for (;;) {
            for (size_t k = 0; k < w->fresh.n; k++)
                if (wait_add(arrivals, (double)w->fresh.a[k].rank, &w->fresh.a[k]))
                    return ERR_NOMEM;
            w->fresh.n = 0;
            heap_fix(arrivals, &arrivals_ordered);
            passed->n = 0;
            int grown = 0;
            while (!grown && (failing->n || arrivals->n)) {
                Item it;
                if (failing->n &&
                    (!arrivals->n || failing->a[failing->n - 1].rank < arrivals->a[0].key)) {
                    it = failing->a[--failing->n];
                } else {
                    it = heap_pop(arrivals);
                    arrivals_ordered = arrivals->n;
                }
                if (it.area < aw.lo) continue; /* can never match a B at least this large */
                if (!(overlap_of(B, aB, it.r, it.area, metric) >= thr)) {
                    if (ItemVec_push(passed, it)) return ERR_NOMEM;
                    continue;
                }
                parent[it.rank] = seed;
                grid_remove(g, it.rank);
                if (it.r[0] < B[0]) B[0] = it.r[0], grown = 1;
                if (it.r[1] < B[1]) B[1] = it.r[1], grown = 1;
                if (it.r[2] > B[2]) B[2] = it.r[2], grown = 1;
                if (it.r[3] > B[3]) B[3] = it.r[3], grown = 1;
            }
            if (!grown) break; /* every candidate fails an unchanged B */
            if (ItemVec_reserve(failing, failing->n + passed->n)) return ERR_NOMEM;
            for (size_t k = passed->n; k-- > 0;) failing->a[failing->n++] = passed->a[k];
            aB = area_of(B);
            aw = area_window(aB, metric, thr);
            if ((rc = wake(w, ws, B, aw)) || (rc = discover(w, ws, scan, B, aw))) return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ wbf */

/*
 * Clusters are stored in the grid by their current fused box, under the rank of their
 * first member. Row j joins the cluster whose fused box has the highest metric with it
 * when that is > thr (ties: the earliest cluster, i.e. the smallest rank); otherwise it
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
    if ((rc = grid_setup(g, b, w->part, n, 0))) return rc;
    for (int32_t j = 0; j < n; j++) {
        parent[j] = j;
        if (!w->part[j]) continue;
        const double *bj = b + 4 * (size_t)j;
        double aj = area_of(bj);
        if ((rc = grid_query(g, bj, area_window(aj, metric, thr), &w->cand))) return rc;
        int32_t best = -1;
        double best_m = 0.0;
        for (size_t k = 0; k < w->cand.n; k++) {
            const Item *it = &g->arena[w->cand.a[k]];
            double m = overlap_of(it->r, it->area, bj, aj, metric);
            if (!(m > thr)) continue;
            if (best < 0 || m > best_m || (m == best_m && it->rank < best)) {
                best = it->rank;
                best_m = m;
            }
        }
        double wj = conf[j];
        if (best < 0) {
            double *s = w->sums + 9 * (size_t)j;
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
        double *s = w->sums + 9 * (size_t)best;
        for (int d = 0; d < 4; d++) {
            s[d] += wj * bj[d];
            s[4 + d] += bj[d];
        }
        s[8] += wj;
        w->count[best] += 1;
        double fused[4];
        for (int d = 0; d < 4; d++)
            fused[d] = s[8] > 0.0 ? s[d] / s[8] : s[4 + d] / (double)w->count[best];
        if (area_of(fused) > 0.0) {
            if ((rc = grid_update(g, best, fused))) return rc;
        } else {
            grid_remove(g, best); /* a fused box of zero area overlaps nothing */
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ overlapping pairs */

static int run_pairs(Work *w, const double *b, int32_t n, int64_t base, LVec *out)
{
    int rc;
    Grid *g = &w->g;
    mark_participants(w, b, n);
    if ((rc = grid_setup(g, b, w->part, n, 1))) return rc;
    const AreaWindow all = {0.0, HUGE_VAL};
    for (int32_t j = 0; j < n; j++) {
        if (!w->part[j]) continue;
        const double *bj = b + 4 * (size_t)j;
        if ((rc = grid_query(g, bj, all, &w->cand))) return rc;
        w->match.n = 0;
        for (size_t k = 0; k < w->cand.n; k++) {
            const Item *it = &g->arena[w->cand.a[k]];
            if (it->rank > j && inter_of(bj, it->r) > 0.0 && IVec_push(&w->match, it->rank))
                return ERR_NOMEM;
        }
        sort_i32(w->match.a, w->match.n);
        if (LVec_reserve(out, out->n + 2 * w->match.n)) return ERR_NOMEM;
        for (size_t k = 0; k < w->match.n; k++) {
            out->a[out->n++] = base + j;
            out->a[out->n++] = base + w->match.a[k];
        }
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
    "Sequential greedy grouping of boxes over a hierarchical grid (tilewise.kernels).",
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
