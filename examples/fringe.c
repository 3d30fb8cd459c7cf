/* fringe.c - the same-fringe problem, solved with two generator coroutines.

   What it shows: two binary trees of different shapes have the same "fringe" when their leaves,
   read left to right, are the same. A recursive walk is the natural way to list a tree's leaves,
   and a comparison wants the leaves of two trees one pair at a time. A stackful coroutine lets
   the walk stay recursive: each walker calls coro_yield from deep inside its own recursion
   (Beazley's "problem with the stack": a Python generator can only yield at its top level), and
   the comparison pulls one leaf from each walker with coro_resume. It stops at the first
   difference without walking the rest of either tree; coro_free kills the unfinished walkers,
   and the cleanup each walker registered with coro_defer runs on the walker's own stack.

   After fringe.py of the 1999 eGroups coroutine library, its solution to the same-fringe
   problem: comparing two differently structured trees leaf by leaf, stopping at the first
   difference.

   Build and run, from the repository root:
       cc -O2 -I. examples/fringe.c -o fringe && ./fringe
   Exits 0 when every verdict is the expected one, 1 otherwise. */
#define CORO_IMPLEMENTATION
#include "coro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct node {
    const struct node *left, *right; /* both NULL for a leaf */
    int leaf;
};

/* Trees written as nested pairs: T(l, r) is an inner node, L(v) a leaf. File-scope compound
   literals have static storage, so nothing here needs freeing. */
#define L(v) (&(struct node){NULL, NULL, (v)})
#define T(l, r) (&(struct node){(l), (r), 0})

static const struct node *const tree_a = T(T(L(1), L(2)), T(L(3), T(L(4), L(5))));
static const struct node *const tree_b = T(L(1), T(L(2), T(T(L(3), L(4)), L(5))));
static const struct node *const tree_c =
    T(T(T(L(1), L(2)), T(L(3), L(4))), T(T(L(5), L(6)), T(L(7), L(8))));
static const struct node *const tree_d =
    T(L(1), T(L(2), T(L(3), T(L(9), T(L(5), T(L(6), T(L(7), L(8))))))));
static const struct node *const tree_e = T(T(L(1), L(2)), L(3));

static void print_tree(const struct node *n) {
    if (!n->left) {
        printf("%d", n->leaf);
        return;
    }
    putchar('(');
    print_tree(n->left);
    putchar(' ');
    print_tree(n->right);
    putchar(')');
}

static int count_leaves(const struct node *n) {
    return n->left ? count_leaves(n->left) + count_leaves(n->right) : 1;
}

/* One walker per tree. It is passed to the walker coroutine by the first coro_resume. */
struct walker {
    const char *name;
    const struct node *tree;
    int visited;  /* leaves handed out so far */
    int finished; /* the walk reached the last leaf and returned */
};

/* Registered with coro_defer: runs when the walker ends, whether its walk finished or the
   walker was killed in the middle of it (by coro_free here). */
static void walker_cleanup(void *arg) {
    struct walker *w = (struct walker *)arg;
    if (w->finished)
        printf("  walker %s: cleanup: walk finished after %d leaves\n", w->name, w->visited);
    else
        printf("  walker %s: cleanup: killed after %d of %d leaves\n", w->name, w->visited,
               count_leaves(w->tree));
}

/* An ordinary recursive walk, except that each leaf is handed to whoever resumed the walker:
   coro_yield suspends the whole recursion, however deep, until the next coro_resume. */
static void walk(const struct node *n, struct walker *w) {
    if (!n->left) {
        w->visited++;
        coro_yield((void *)n);
        return;
    }
    walk(n->left, w);
    walk(n->right, w);
}

static void *walker_main(void *arg) {
    struct walker *w = (struct walker *)arg;
    if (coro_defer(walker_cleanup, w) != 0) return NULL;
    walk(w->tree, w);
    w->finished = 1;
    return NULL; /* NULL = no more leaves: the last coro_resume returns this */
}

/* Pull the next leaf from a walker; NULL when its walk is over. The value passed by the first
   resume becomes walker_main's argument; the walk ignores what later resumes pass. */
static const struct node *next_leaf(coro_t *co, struct walker *w, int *failed) {
    const struct node *leaf;
    errno = 0;
    leaf = (const struct node *)coro_resume(co, w);
    if (!leaf && coro_status(co) != CORO_DEAD) {
        printf("coro_resume(walker %s) failed: %s\n", w->name, strerror(errno));
        *failed = 1;
    }
    return leaf;
}

/* Compare two trees leaf by leaf. Returns 1 for the same fringe, 0 if they differ, -1 on a
   coro.h failure. */
static int same_fringe(const char *name_a, const struct node *a, const char *name_b,
                       const struct node *b) {
    struct walker wa, wb;
    coro_t *ga, *gb;
    int same = -1, failed = 0, i;

    memset(&wa, 0, sizeof wa);
    memset(&wb, 0, sizeof wb);
    wa.name = name_a;
    wa.tree = a;
    wb.name = name_b;
    wb.tree = b;
    printf("%s = ", name_a);
    print_tree(a);
    printf("\n%s = ", name_b);
    print_tree(b);
    printf("\n");

    ga = coro_new(walker_main, 0);
    gb = coro_new(walker_main, 0);
    if (!ga || !gb) {
        printf("coro_new failed: %s\n", strerror(errno));
        coro_free(ga);
        coro_free(gb);
        return -1;
    }
    for (i = 1;; i++) {
        const struct node *la = next_leaf(ga, &wa, &failed);
        const struct node *lb = next_leaf(gb, &wb, &failed);
        if (failed) break;
        if (!la && !lb) {
            printf("%s and %s: same fringe (%d leaves compared)\n", name_a, name_b, i - 1);
            same = 1;
            break;
        }
        if (!la || !lb) {
            printf("%s and %s: fringes differ: %s ran out after %d leaves; %s visited %d of %d "
                   "leaves, %s visited %d of %d\n",
                   name_a, name_b, la ? name_b : name_a, i - 1, name_a, wa.visited,
                   count_leaves(a), name_b, wb.visited, count_leaves(b));
            same = 0;
            break;
        }
        printf("  leaf %d: %d %d%s\n", i, la->leaf, lb->leaf,
               la->leaf == lb->leaf ? "" : "  <- differ");
        if (la->leaf != lb->leaf) {
            printf("%s and %s: fringes differ at leaf %d (%d vs %d); %s visited %d of %d leaves, "
                   "%s visited %d of %d\n",
                   name_a, name_b, i, la->leaf, lb->leaf, name_a, wa.visited, count_leaves(a),
                   name_b, wb.visited, count_leaves(b));
            same = 0;
            break;
        }
    }
    /* A walker that is still in the middle of its walk is killed by coro_free: its
       walker_cleanup runs now, before coro_free returns. */
    if (coro_free(ga) != 0 || coro_free(gb) != 0) {
        printf("coro_free failed: %s\n", strerror(errno));
        return -1;
    }
    printf("\n");
    return same;
}

int main(void) {
    int bad = 0;
    bad |= same_fringe("A", tree_a, "B", tree_b) != 1;
    bad |= same_fringe("C", tree_c, "D", tree_d) != 0;
    bad |= same_fringe("E", tree_e, "B", tree_b) != 0;
    printf("coroutines still alive: %zu\n", coro_count_alive());
    bad |= coro_count_alive() != 0;
    printf("%s\n", bad ? "FAILED" : "all verdicts as expected");
    return bad ? 1 : 0;
}
