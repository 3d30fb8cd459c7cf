/* test_core.c - coro.h semantics: values both ways, states, misuse, kill/defer, raise,
   symmetric transfer, same-fringe, floating-point control modes per coroutine. */
#define CORO_IMPLEMENTATION
#include "../coro.h"
#include "check.h"

#include <fenv.h>
#include <stdint.h>
#include <unwind.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
static int running_on_valgrind(void) {
#ifdef RUNNING_ON_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

/* ---- values both ways ---------------------------------------------------------------------- */
static void *echo_plus(void *arg) {
    intptr_t v = I(arg);
    CHECK(coro_current() != NULL);
    CHECK(coro_status(coro_current()) == CORO_RUNNING);
    v = I(coro_yield(P(v + 1)));     /* hand back arg+1, receive the next value */
    v = I(coro_yield(P(v * 2)));
    return P(v - 1);
}

static void test_values_both_ways(void) {
    coro_t *co = coro_new(echo_plus, 0);
    CHECK(co != NULL);
    CHECK(coro_current() == NULL);
    CHECK(coro_status(co) == CORO_SUSPENDED);
    errno = 1234;
    CHECK(I(coro_resume(co, P(10))) == 11);
    CHECK(errno == 1234); /* success leaves errno alone */
    CHECK(coro_status(co) == CORO_SUSPENDED);
    CHECK(I(coro_resume(co, P(20))) == 40);
    CHECK(I(coro_resume(co, P(7))) == 6); /* fn's return value */
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(coro_free(co) == 0);
}

/* the seed's examples: my_coro(34) gives 44; the counter gives 1, 2, 3, 4 */
static void *my_coro(void *arg) {
    coro_yield(P(I(arg) + 10));
    return NULL;
}
static void *counter(void *arg) {
    intptr_t i = 0;
    (void)arg;
    for (;;) coro_yield(P(++i));
    return NULL;
}
static void test_seed_examples(void) {
    coro_t *c = coro_new(my_coro, 0);
    intptr_t i;
    CHECK(I(coro_resume(c, P(34))) == 44);
    coro_free(c);
    c = coro_new(counter, 0);
    for (i = 1; i <= 4; i++) CHECK(I(coro_resume(c, NULL)) == i);
    CHECK(coro_free(c) == 0); /* kills the suspended counter */
}

/* A file-static variable written by a coroutine must be seen by main right after the switch.
   GCC's ipa-reference once kept such a value in a register across coro_resume when the
   implementation shares the translation unit (the switch is an asm statement, not a call). */
static int static_counter;
static void *bump_static(void *arg) {
    (void)arg;
    for (;;) {
        static_counter++;
        coro_yield(NULL);
    }
    return NULL;
}
static void test_statics_seen_across_switch(void) {
    coro_t *co = coro_new(bump_static, 0);
    int i, before = static_counter;
    for (i = 1; i <= 3; i++) {
        coro_resume(co, NULL);
        CHECK(static_counter == before + i);
    }
    coro_free(co);
}

/* ---- states and nesting -------------------------------------------------------------------- */
static coro_t *outer_co, *inner_co;
static void *inner_fn(void *arg) {
    (void)arg;
    CHECK(coro_status(outer_co) == CORO_NORMAL);
    CHECK(coro_status(inner_co) == CORO_RUNNING);
    CHECK(coro_current() == inner_co);
    /* resuming anything in the chain is refused */
    CHECK_ERR(coro_resume(outer_co, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_resume(inner_co, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_kill(outer_co) == -1, EBUSY);
    CHECK_ERR(coro_free(outer_co) == -1, EBUSY);
    coro_yield(P(1));
    return P(2);
}
static void *outer_fn(void *arg) {
    (void)arg;
    CHECK(I(coro_resume(inner_co, NULL)) == 1);
    CHECK(coro_status(inner_co) == CORO_SUSPENDED);
    CHECK(coro_current() == outer_co);
    CHECK(I(coro_resume(inner_co, NULL)) == 2);
    CHECK(coro_status(inner_co) == CORO_DEAD);
    return P(3);
}
static void test_nesting_states(void) {
    outer_co = coro_new(outer_fn, 0);
    inner_co = coro_new(inner_fn, 0);
    CHECK(I(coro_resume(outer_co, NULL)) == 3);
    CHECK(coro_status(outer_co) == CORO_DEAD);
    coro_free(inner_co);
    coro_free(outer_co);
}

/* ---- misuse never crashes ------------------------------------------------------------------ */
static void *self_resume(void *arg) {
    coro_t *self = coro_current();
    (void)arg;
    CHECK_ERR(coro_resume(self, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_transfer(self, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_free(self) == -1, EBUSY);
    return P(5);
}
static void *returns_at_once(void *arg) { return arg; }

static void test_misuse(void) {
    coro_t *co;
    CHECK_ERR(coro_resume(NULL, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_raise(NULL, ECANCELED) == NULL, EINVAL);
    CHECK_ERR(coro_yield(NULL) == NULL, EINVAL); /* from main */
    CHECK_ERR(coro_transfer(NULL, NULL) == NULL, EINVAL); /* main to main */
    CHECK_ERR(coro_new(NULL, 0) == NULL, EINVAL);
    CHECK_ERR(coro_new(returns_at_once, (size_t)-1) == NULL, EINVAL);
    CHECK_ERR(coro_new(returns_at_once, (size_t)-1 / 2) == NULL, EINVAL);
    CHECK_ERR(coro_new(returns_at_once, CORO_MAX_STACK_SIZE + 1) == NULL, EINVAL);
    CHECK_ERR(coro_status(NULL) == -1, EINVAL);
    CHECK_ERR(coro_defer(NULL, NULL) == -1, EINVAL); /* from main */
    CHECK_ERR(coro_defer_pop(0) == -1, EINVAL);
    CHECK_ERR(coro_kill(NULL) == -1, EINVAL);
    CHECK(coro_free(NULL) == 0);
    CHECK(coro_raised() == 0);

    co = coro_new(self_resume, 0);
    CHECK(I(coro_resume(co, NULL)) == 5);
    CHECK_ERR(coro_resume(co, NULL) == NULL, EINVAL); /* dead */
    CHECK_ERR(coro_raise(co, ECANCELED) == NULL, EINVAL);
    CHECK_ERR(coro_transfer(co, NULL) == NULL, EINVAL);
    CHECK(coro_kill(co) == 0); /* already dead: nothing to do */
    CHECK(coro_free(co) == 0);
    /* the stack is pooled, so a double free is still detected */
    CHECK_ERR(coro_free(co) == -1, EINVAL);

    co = coro_new(returns_at_once, 0);
    CHECK_ERR(coro_raise(co, 0) == NULL, EINVAL);
    CHECK_ERR(coro_raise(co, -5) == NULL, EINVAL);
    CHECK(coro_status(co) == CORO_SUSPENDED);
    CHECK(I(coro_resume(co, P(9))) == 9);
    coro_free(co);

    /* tiny sizes are rounded up, not refused */
    co = coro_new(returns_at_once, 1);
    CHECK(co != NULL);
    CHECK(coro_stack_size(co) >= CORO_MIN_STACK_SIZE);
    coro_free(co);
    CHECK(strcmp(coro_status_name(CORO_DEAD), "dead") == 0);
    CHECK(strcmp(coro_status_name(42), "invalid") == 0);
}

/* ---- cleanups: order, kill, self-kill, pop ------------------------------------------------- */
static char trail[64];
static size_t trail_n;
static void mark(void *arg) {
    if (trail_n < sizeof trail - 1) trail[trail_n++] = (char)I(arg);
    trail[trail_n] = 0;
}
static void reset_trail(void) {
    trail_n = 0;
    trail[0] = 0;
}
static coro_t *cleanup_owner;
static void mark_and_check_stack(void *arg) {
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0); /* not a local: ASan moves those */
    coro_t *self = coro_current();
    CHECK(self == cleanup_owner); /* runs as the coroutine itself ... */
    /* ... on its own stack: the frame sits between its lowest byte and the header at the top */
    CHECK(frame < (uintptr_t)self->stack);
    CHECK(frame > (uintptr_t)self->stack->stack_lo);
    CHECK((uintptr_t)self->stack - (uintptr_t)self->stack->stack_lo == coro_stack_size(self));
    mark(arg);
}
static void *deferring(void *arg) {
    int i;
    CHECK(coro_defer(mark_and_check_stack, P('a')) == 0);
    for (i = 0; i < 9; i++) CHECK(coro_defer(mark, P('b' + i)) == 0); /* beyond the inline 4 */
    coro_yield(NULL);
    mark(P('!'));  /* reached only when the coroutine is resumed, not when killed */
    return arg;
}
static void test_defer_order_on_return(void) {
    coro_t *co = coro_new(deferring, 0);
    cleanup_owner = co;
    reset_trail();
    coro_resume(co, P(77));
    CHECK(trail_n == 0);
    CHECK(I(coro_resume(co, NULL)) == 77);
    CHECK(strcmp(trail, "!jihgfedcba") == 0);
    coro_free(co);
}
static void test_kill_runs_cleanups(void) {
    coro_t *co = coro_new(deferring, 0);
    cleanup_owner = co;
    reset_trail();
    coro_resume(co, NULL);
    CHECK(coro_kill(co) == 0);
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(strcmp(trail, "jihgfedcba") == 0); /* no '!': the body never continued */
    CHECK_ERR(coro_resume(co, NULL) == NULL, EINVAL);
    coro_free(co);

    /* coro_free kills a suspended coroutine first */
    co = coro_new(deferring, 0);
    cleanup_owner = co;
    reset_trail();
    coro_resume(co, NULL);
    CHECK(coro_free(co) == 0);
    CHECK(strcmp(trail, "jihgfedcba") == 0);

    /* never started: just dead, nothing runs */
    co = coro_new(deferring, 0);
    reset_trail();
    CHECK(coro_kill(co) == 0);
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(trail_n == 0);
    coro_free(co);
}
static void *self_killer(void *arg) {
    coro_defer(mark, P('x'));
    coro_defer(mark, P('y'));
    coro_kill(coro_current());
    mark(P('!')); /* never */
    return arg;
}
static void test_self_kill(void) {
    coro_t *co = coro_new(self_killer, 0);
    reset_trail();
    CHECK(coro_resume(co, P(1)) == NULL); /* its resumer gets NULL */
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(strcmp(trail, "yx") == 0);
    coro_free(co);
}
static void *popper(void *arg) {
    (void)arg;
    coro_defer(mark, P('1'));
    coro_defer(mark, P('2'));
    coro_defer(mark, P('3'));
    CHECK(coro_defer_pop(1) == 0); /* runs 3 now */
    CHECK(coro_defer_pop(0) == 0); /* drops 2 */
    return NULL;                  /* 1 runs at the end */
}
static void test_defer_pop(void) {
    coro_t *co = coro_new(popper, 0);
    reset_trail();
    coro_resume(co, NULL);
    CHECK(strcmp(trail, "31") == 0);
    coro_free(co);
}
/* a cleanup cannot switch away, but may use generators of its own */
static void *gen3(void *arg) {
    (void)arg;
    coro_yield(P('g'));
    return P('h');
}
static void switching_cleanup(void *arg) {
    coro_t *g;
    (void)arg;
    CHECK_ERR(coro_yield(NULL) == NULL, ECANCELED);
    CHECK_ERR(coro_transfer(NULL, NULL) == NULL, ECANCELED);
    g = coro_new(gen3, 0);
    mark(coro_resume(g, NULL));
    mark(coro_resume(g, NULL));
    coro_free(g);
}
static void *with_switching_cleanup(void *arg) {
    coro_defer(switching_cleanup, NULL);
    coro_yield(arg);
    return arg;
}
static void test_cleanup_cannot_switch_away(void) {
    coro_t *co = coro_new(with_switching_cleanup, 0);
    reset_trail();
    coro_resume(co, NULL);
    CHECK(coro_kill(co) == 0);
    CHECK(strcmp(trail, "gh") == 0);
    coro_free(co);
}

/* the runtime's exit hook runs after every user cleanup and cannot be popped */
static void runtime_exit_mark(void *data) {
    CHECK(data == (void *)&trail_n);
    CHECK(coro_current() == cleanup_owner); /* on the coroutine's own stack */
    mark(P('R'));
}
static void *pops_too_much(void *arg) {
    coro_defer(mark, P('u'));
    CHECK(coro_defer_pop(1) == 0);
    CHECK_ERR(coro_defer_pop(0) == -1, EINVAL); /* the runtime's hook is not in this list */
    coro_defer(mark, P('v'));
    if (arg) coro_yield(NULL);
    return NULL;
}
static void test_runtime_exit_hook(void) {
    int kill;
    for (kill = 0; kill < 2; kill++) {
        coro_t *co = coro_new(pops_too_much, 0);
        cleanup_owner = co;
        reset_trail();
        coro_set_runtime(co, &trail_n, runtime_exit_mark);
        /* it belongs to the runtime now: only the runtime's own key resumes it */
        errno = 0;
        CHECK(coro_resume(co, P(kill)) == NULL && errno == EBUSY);
        errno = 0;
        CHECK(coro_runtime_resume(co, &kill, P(kill)) == NULL && errno == EBUSY);
        CHECK_ERR(coro_runtime_resume(co, NULL, P(kill)) == NULL, EINVAL);
        CHECK(coro_status(co) == CORO_SUSPENDED && !trail[0]);
        coro_runtime_resume(co, &trail_n, P(kill));
        if (kill) coro_kill(co);
        CHECK(strcmp(trail, "uvR") == 0);
        coro_set_runtime(co, NULL, NULL);
        coro_free(co);
    }
}

/* ---- raise --------------------------------------------------------------------------------- */
static void *raise_target(void *arg) {
    void *v;
    CHECK(coro_raised() == I(arg)); /* started by coro_raise: the error is there at once */
    v = coro_yield(P(1));
    CHECK(v == NULL);
    CHECK(coro_raised() == ECANCELED);
    CHECK(coro_raised() == 0); /* reading cleared it */
    v = coro_yield(P(2));
    CHECK(I(v) == 3);
    CHECK(coro_raised() == 0); /* a plain resume raises nothing */
    return P(4);
}
static void test_raise(void) {
    coro_t *co = coro_new(raise_target, 0);
    CHECK(I(coro_resume(co, P(0))) == 1);
    CHECK(I(coro_raise(co, ECANCELED)) == 2);
    CHECK(I(coro_resume(co, P(3))) == 4);
    coro_free(co);
}
static void *raise_at_start(void *arg) {
    CHECK(arg == NULL);
    return P(coro_raised());
}
static void test_raise_unstarted(void) {
    coro_t *co = coro_new(raise_at_start, 0);
    CHECK(I(coro_raise(co, ETIMEDOUT)) == ETIMEDOUT);
    CHECK(coro_status(co) == CORO_DEAD);
    coro_free(co);
}

/* ---- symmetric transfer -------------------------------------------------------------------- */
#define RING 16
static coro_t *ring[RING];
static intptr_t ring_hits[RING];
static void *ring_member(void *arg) {
    intptr_t me = I(arg), v;
    v = I(coro_yield(NULL)); /* parked after creation; main starts the token */
    for (;;) {
        ring_hits[me]++;
        if (v == 0) break;
        v = I(coro_transfer(ring[(me + 1) % RING], P(v - 1)));
    }
    return P(me); /* finishing returns to the chain's resumer: main */
}
static void test_transfer_ring(void) {
    int i;
    intptr_t total = 0;
    for (i = 0; i < RING; i++) {
        ring[i] = coro_new(ring_member, 0);
        ring_hits[i] = 0;
        coro_resume(ring[i], P(i));
    }
    /* 1000 hops: the coroutine that receives 0 is number 1000 % RING */
    CHECK(I(coro_resume(ring[0], P(1000))) == 1000 % RING);
    for (i = 0; i < RING; i++) total += ring_hits[i];
    CHECK(total == 1001);
    for (i = 0; i < RING; i++) coro_free(ring[i]);
}

static coro_t *ta, *tb, *tc;
static void *chain_c(void *arg) {
    CHECK(I(arg) == 2);
    CHECK(coro_status(ta) == CORO_NORMAL); /* c took b's place under a */
    CHECK(coro_status(tb) == CORO_SUSPENDED);
    CHECK(I(coro_yield(P(3))) == 4); /* goes to a, which resumed b */
    return P(5);
}
static void *chain_b(void *arg) {
    CHECK(I(arg) == 1);
    coro_transfer(tc, P(2)); /* a tail call: never continued in this test */
    return NULL;
}
static void *chain_a(void *arg) {
    (void)arg;
    CHECK(I(coro_resume(tb, P(1))) == 3); /* c yields to us */
    CHECK(I(coro_resume(tc, P(4))) == 5);
    /* deep transfer to main: a is the chain's tip's resumer... go to main directly */
    CHECK(I(coro_transfer(NULL, P(6))) == 7);
    return P(8);
}
static void test_transfer_chain(void) {
    ta = coro_new(chain_a, 0);
    tb = coro_new(chain_b, 0);
    tc = coro_new(chain_c, 0);
    CHECK(I(coro_resume(ta, NULL)) == 6);
    CHECK(coro_status(ta) == CORO_SUSPENDED);
    CHECK(I(coro_resume(ta, P(7))) == 8);
    CHECK(coro_status(ta) == CORO_DEAD);
    CHECK(coro_status(tb) == CORO_SUSPENDED); /* b was left in its transfer */
    coro_free(ta);
    coro_free(tb); /* killed */
    coro_free(tc);
}

/* main -> A -> B; B transfers to main: main's resume(A) returns, A is suspended with its
   resume(B) pending, and resuming A makes that pending resume return. */
static coro_t *cut_a, *cut_b;
static void *cut_b_fn(void *arg) {
    (void)arg;
    CHECK(I(coro_transfer(NULL, P(10))) == 30);
    return P(40);
}
static void *cut_a_fn(void *arg) {
    (void)arg;
    CHECK(I(coro_resume(cut_b, NULL)) == 20); /* the value main resumed A with */
    CHECK(coro_status(cut_b) == CORO_SUSPENDED);
    CHECK(I(coro_resume(cut_b, P(30))) == 40);
    return P(50);
}
static void test_transfer_cuts_chain(void) {
    cut_a = coro_new(cut_a_fn, 0);
    cut_b = coro_new(cut_b_fn, 0);
    CHECK(I(coro_resume(cut_a, NULL)) == 10);
    CHECK(coro_status(cut_a) == CORO_SUSPENDED);
    CHECK(coro_status(cut_b) == CORO_SUSPENDED);
    CHECK(I(coro_resume(cut_a, P(20))) == 50);
    coro_free(cut_a);
    coro_free(cut_b);
}

/* main transfers to a coroutine (no resumer): its yield goes to main */
static void *orphan(void *arg) {
    CHECK(I(arg) == 1);
    CHECK(I(coro_yield(P(2))) == 3);
    return P(4);
}
static void test_transfer_from_main(void) {
    coro_t *co = coro_new(orphan, 0);
    CHECK(I(coro_transfer(co, P(1))) == 2);
    CHECK(I(coro_transfer(co, P(3))) == 4);
    CHECK(coro_status(co) == CORO_DEAD);
    coro_free(co);
}

/* ---- same fringe --------------------------------------------------------------------------- */
typedef struct node {
    int leaf;
    struct node *l, *r;
} node;
static void walk(node *n) {
    if (!n->l && !n->r) coro_yield(P(n->leaf));
    if (n->l) walk(n->l);
    if (n->r) walk(n->r);
}
static void *leaves(void *arg) {
    walk((node *)arg);
    return P(-1);
}
static int same_fringe(node *a, node *b, int *visited) {
    coro_t *ga = coro_new(leaves, 0), *gb = coro_new(leaves, 0);
    intptr_t x = I(coro_resume(ga, a)), y = I(coro_resume(gb, b));
    int same = 1;
    *visited = 0;
    for (;;) {
        ++*visited;
        if (x != y) {
            same = 0;
            break;
        }
        if (x == -1) break;
        x = I(coro_resume(ga, NULL));
        y = I(coro_resume(gb, NULL));
    }
    coro_free(ga);
    coro_free(gb);
    return same;
}
static void test_same_fringe(void) {
    /* ((1 2) 3) vs (1 (2 3)) vs (1 (4 3)) */
    node l1 = {1, 0, 0}, l2 = {2, 0, 0}, l3 = {3, 0, 0}, l4 = {4, 0, 0};
    node a12 = {0, &l1, &l2}, ta_ = {0, &a12, &l3};
    node m1 = {1, 0, 0}, m2 = {2, 0, 0}, m3 = {3, 0, 0};
    node b23 = {0, &m2, &m3}, tb_ = {0, &m1, &b23};
    node n1 = {1, 0, 0}, n3 = {3, 0, 0};
    node c43 = {0, &l4, &n3}, tc_ = {0, &n1, &c43};
    int visited;
    CHECK(same_fringe(&ta_, &tb_, &visited) == 1);
    CHECK(visited == 4);
    CHECK(same_fringe(&ta_, &tc_, &visited) == 0);
    CHECK(visited == 2); /* stopped at the first difference */
}

/* ---- floating-point control modes are per coroutine ---------------------------------------- */
static volatile double fp_one = 1.0, fp_three = 3.0;
static void *rounding_up(void *arg) {
    (void)arg;
    CHECK(fegetround() == FE_TONEAREST); /* starts with its creator's mode */
    CHECK(fesetround(FE_UPWARD) == 0);
    coro_yield(NULL);
    CHECK(fegetround() == FE_UPWARD); /* still ours after main ran in its own mode */
    coro_yield(NULL);
    return NULL;
}
static void *rounding_down(void *arg) {
    (void)arg;
    CHECK(fesetround(FE_DOWNWARD) == 0);
    coro_yield(NULL);
    CHECK(fegetround() == FE_DOWNWARD);
    return NULL;
}
static __attribute__((unused)) void test_rounding_mode_per_coroutine(void) {
    coro_t *up, *down;
    volatile double near_third = fp_one / fp_three, up_third, again; /* stored: no x87 excess */
    CHECK(fesetround(FE_TONEAREST) == 0);
    up = coro_new(rounding_up, 0);
    down = coro_new(rounding_down, 0);
    coro_resume(up, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    again = fp_one / fp_three;
    CHECK(again == near_third);
    coro_resume(down, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    coro_resume(up, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    coro_resume(down, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    /* main changes its own mode: the coroutine keeps its own */
    CHECK(fesetround(FE_TOWARDZERO) == 0);
    coro_resume(up, NULL);
    CHECK(fegetround() == FE_TOWARDZERO);
    CHECK(fesetround(FE_UPWARD) == 0);
    up_third = fp_one / fp_three;
    if (!running_on_valgrind()) CHECK(up_third > near_third); /* Valgrind rounds to nearest */
    CHECK(fesetround(FE_TONEAREST) == 0);
    coro_free(up);
    coro_free(down);
}

/* A coroutine first switched to by another coroutine, one that runs in a mode of its own,
   starts in that mode; each of the three keeps its own mode afterwards, whoever switches. */
static coro_t *fp_inner;
static void *rounding_inner(void *arg) {
    (void)arg;
    CHECK(fegetround() == FE_UPWARD); /* the mode of the coroutine that first resumed it */
    CHECK(fesetround(FE_DOWNWARD) == 0);
    coro_yield(NULL);
    CHECK(fegetround() == FE_DOWNWARD);
    coro_yield(NULL);
    CHECK(fegetround() == FE_DOWNWARD);
    return NULL;
}
static void *rounding_outer(void *arg) {
    (void)arg;
    CHECK(fesetround(FE_UPWARD) == 0);
    coro_resume(fp_inner, NULL);
    CHECK(fegetround() == FE_UPWARD);
    coro_yield(NULL);
    CHECK(fegetround() == FE_UPWARD);
    coro_resume(fp_inner, NULL);
    CHECK(fegetround() == FE_UPWARD);
    return NULL;
}
static __attribute__((unused)) void test_rounding_mode_inherited_from_a_coroutine(void) {
    coro_t *outer = coro_new(rounding_outer, 0);
    fp_inner = coro_new(rounding_inner, 0);
    CHECK(fesetround(FE_TONEAREST) == 0);
    coro_resume(outer, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    coro_resume(outer, NULL); /* outer resumes inner once more */
    CHECK(fegetround() == FE_TONEAREST);
    CHECK(coro_status(outer) == CORO_DEAD);
    coro_resume(fp_inner, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    CHECK(coro_status(fp_inner) == CORO_DEAD);
    coro_free(outer);
    coro_free(fp_inner);
}

/* A control bit changed alone, not through <fenv.h> (flush-to-zero through ldmxcsr, as
   _mm_setcsr does; FPSCR's flush-to-zero on ARM; FPSCR's non-IEEE mode on POWER): kept per
   coroutine. The portable switch keeps only the rounding mode (documented). */
#if defined(CORO__ARCH_PORTABLE)
#elif defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#define FP_CONTROL_TEST 1
static unsigned long get_ctl(void) {
    unsigned m;
    __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}
static void set_ctl(unsigned long v) {
    unsigned m = (unsigned)v;
    __asm__ volatile("ldmxcsr %0" : : "m"(m));
}
#define CTL_BIT 0x8000ul     /* FTZ */
#define CTL_MASK 0xffc0ul    /* the control bits (the rest are status flags) */
#elif defined(__arm__)
#define FP_CONTROL_TEST 1
static unsigned long get_ctl(void) {
    unsigned m;
    __asm__ volatile("vmrs %0, fpscr" : "=r"(m));
    return m;
}
static void set_ctl(unsigned long v) { __asm__ volatile("vmsr fpscr, %0" : : "r"((unsigned)v)); }
#define CTL_BIT 0x01000000ul /* FZ */
#define CTL_MASK 0x07c09f00ul
#elif defined(__powerpc64__)
#define FP_CONTROL_TEST 1
static unsigned long get_ctl(void) {
    union {
        double d;
        unsigned long u;
    } v;
    __asm__ volatile("mffs %0" : "=d"(v.d));
    return v.u & 0xffffffffu;
}
static void set_ctl(unsigned long x) {
    union {
        double d;
        unsigned long u;
    } v;
    v.u = x;
    __asm__ volatile("mtfsf 0xff, %0" : : "d"(v.d));
}
#define CTL_BIT 0x4ul        /* NI */
#define CTL_MASK 0xfful
#endif
#ifdef FP_CONTROL_TEST
static void *sets_ctl_bit(void *arg) {
    (void)arg;
    set_ctl(get_ctl() | CTL_BIT);
    coro_yield(NULL);
    CHECK(get_ctl() & CTL_BIT); /* still ours */
    return NULL;
}
static __attribute__((unused)) void test_fp_control_bit_per_coroutine(void) {
    coro_t *co;
    unsigned long before;
    if (running_on_valgrind()) return; /* Valgrind emulates MXCSR without flush-to-zero */
    co = coro_new(sets_ctl_bit, 0);
    before = get_ctl();
    coro_resume(co, NULL);
    CHECK(!(get_ctl() & CTL_BIT)); /* the resumer's control bits are back */
    CHECK((get_ctl() & CTL_MASK) == (before & CTL_MASK));
    coro_resume(co, NULL);
    CHECK(!(get_ctl() & CTL_BIT));
    coro_free(co);
}
#else
static __attribute__((unused)) void test_fp_control_bit_per_coroutine(void) {}
#endif

/* ---- introspection ------------------------------------------------------------------------- */
/* not instrumented, so its frames are on the real stack even under ASan's fake stacks */
static __attribute__((no_sanitize_address)) void touch_deep(int depth) {
    volatile char buf[1024];
    size_t i;
    for (i = 0; i < sizeof buf; i++) buf[i] = (char)depth;
    if (depth > 0) touch_deep(depth - 1);
    buf[1] = buf[0];
}
static void *deep_then_yield(void *arg) {
    touch_deep((int)I(arg));
    coro_yield(NULL);
    return NULL;
}
static void count_cb(coro_t *co, void *ud) {
    (void)co;
    ++*(int *)ud;
}
static void test_introspection(void) {
    coro_t *a = coro_new(deep_then_yield, 64 * 1024), *b = coro_new(deep_then_yield, 0);
    size_t before = coro_count_alive();
    int n = 0;
    CHECK(coro_id(a) != coro_id(b) && coro_id(a) && coro_id(b));
    CHECK(coro_id(NULL) == 0);
    CHECK(strcmp(coro_name(a), "") == 0);
    CHECK(coro_set_name(a, "walker") == 0);
    CHECK(strcmp(coro_name(a), "walker") == 0);
    CHECK(coro_set_name(b, "a name much longer than thirty-one bytes, cut") == 0);
    CHECK(strlen(coro_name(b)) == 31);
    CHECK_ERR(coro_set_name(NULL, "x") == -1, EINVAL);
    CHECK(strcmp(coro_name(NULL), "main") == 0);
    coro_set_data(a, &n);
    CHECK(coro_data(a) == &n);
    coro_set_runtime(a, &before, NULL);
    CHECK(coro_runtime_data(a) == &before);
    CHECK(coro_data(a) == &n); /* two separate slots */
    CHECK_ERR(coro_free(a) == -1, EBUSY); /* owned by a runtime */
    coro_set_runtime(a, NULL, NULL);
    CHECK(coro_stack_size(a) >= 64 * 1024);
    CHECK(coro_stack_size(b) >= CORO_DEFAULT_STACK_SIZE);
    coro_resume(a, P(40)); /* ~40 KiB deep */
    coro_resume(b, P(0));
    CHECK(coro_stack_used(a) >= 40 * 1024);
    CHECK(coro_stack_used(b) > 0);
    coro_foreach(count_cb, &n);
    CHECK((size_t)n == before);
    CHECK(before >= 2);
    coro_free(a);
    CHECK(coro_count_alive() == before - 1);
    coro_free(b);
}

/* ---- a dead coroutine's stack given back before its handle ------------------------------------ */
static uintptr_t release_frame; /* where note_frame's local lay: an address, never used */
static void *note_frame(void *arg) {
    volatile char here = 0;
    release_frame = (uintptr_t)&here;
    if (arg) coro_yield(NULL);
    return arg;
}
static void *release_self(void *arg) {
    CHECK_ERR(coro_stack_release(coro_current()) == -1, EBUSY); /* in use: we run on it */
    return arg;
}
static void test_stack_release(void) {
    coro_t *a = coro_new(note_frame, 0), *b, *c = coro_new(note_frame, 0);
    uintptr_t first;
    CHECK_ERR(coro_stack_release(c) == -1, EBUSY); /* has not run */
    coro_resume(c, P(1));
    CHECK_ERR(coro_stack_release(c) == -1, EBUSY); /* suspended in the middle */
    coro_resume(a, NULL);
    first = release_frame;
    CHECK(coro_status(a) == CORO_DEAD);
    CHECK(coro_stack_used(a) > 0);
    CHECK(coro_stack_release(a) == 0);
    CHECK(coro_stack_used(a) == 0);
    CHECK(coro_status(a) == CORO_DEAD);
    CHECK(coro_stack_release(a) == 0); /* nothing left to give */
    b = coro_new(note_frame, 0);
    coro_resume(b, NULL);
    CHECK(release_frame == first); /* the next to start took the stack given back */
    CHECK(coro_free(a) == 0);
    CHECK(coro_free(b) == 0);
    CHECK_ERR(coro_stack_release(a) == -1, EINVAL); /* freed */
    CHECK_ERR(coro_stack_release(NULL) == -1, EINVAL);
    CHECK(coro_free(c) == 0);
    c = coro_new(release_self, 0);
    coro_resume(c, NULL);
    CHECK(coro_stack_release(c) == 0);
    coro_free(c);
    c = coro_new(note_frame, 0); /* killed before it ran: dead without a stack */
    CHECK(coro_kill(c) == 0);
    CHECK(coro_stack_release(c) == 0);
    coro_free(c);
}

/* ---- unwinding stops at the coroutine's first frame ------------------------------------------ */
/* An unwinder (libgcc's here; gdb and perf read the same frame records) walking up from a
   coroutine body sees the body, then coro__start, and stops: it must not go on into whatever
   the first switch left in the return-address slot (on aarch64 that was a stale link register,
   which showed the resumer as a bogus third frame). */
struct unwind_walk {
    uintptr_t lo, hi;
    int frames, outside;
    _Unwind_Reason_Code rc;
};
#if defined(__ARM_EABI_UNWINDER__)
/* ARM's EHABI unwinder has no _URC_NORMAL_STOP and no CFA (sp stands in), and it reports a
   zero return address, the end of the stack, as _URC_FAILURE */
#define UNWIND_STOP _URC_FAILURE
#define UNWIND_END _URC_FAILURE
#define UNWIND_CFA(ctx) _Unwind_GetGR(ctx, 13)
#else
#define UNWIND_STOP _URC_NORMAL_STOP
#define UNWIND_END _URC_END_OF_STACK
#define UNWIND_CFA(ctx) _Unwind_GetCFA(ctx)
#endif
/* the frames from the body down: the body and coro__start; under the portable switch also the
   trampoline that entered the stack and, where the compiler keeps its return address, the C
   library's makecontext start frame (all on the coroutine's stack: w.outside stays 0) */
#if defined(CORO__ARCH_PORTABLE)
#define UNWIND_FRAMES_OK(n) ((n) == 3 || (n) == 4)
#else
#define UNWIND_FRAMES_OK(n) ((n) == 2)
#endif
static _Unwind_Reason_Code unwind_step(struct _Unwind_Context *ctx, void *arg) {
    struct unwind_walk *w = (struct unwind_walk *)arg;
    uintptr_t cfa = (uintptr_t)UNWIND_CFA(ctx);
    if (_Unwind_GetIP(ctx) == 0) return _URC_NO_REASON; /* the end, as some unwinders report it */
    if (cfa < w->lo || cfa > w->hi) w->outside++;
    return ++w->frames > 64 ? UNWIND_STOP : _URC_NO_REASON;
}
static __attribute__((noinline)) void *unwind_body(void *arg) {
    struct unwind_walk *w = (struct unwind_walk *)arg;
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0); /* on the real stack, even under ASan */
    w->lo = frame - coro_stack_size(coro_current());
    w->hi = frame + 4096;
    w->rc = _Unwind_Backtrace(unwind_step, w);
    return coro_yield(arg);
}
static __attribute__((noinline)) void unwind_resumer(struct unwind_walk *w) {
    coro_t *co = coro_new(unwind_body, 0);
    CHECK(coro_resume(co, w) == w);
    coro_free(co);
}
static void test_unwind_stops_at_coroutine_start(void) {
    struct unwind_walk w;
    memset(&w, 0, sizeof w);
    unwind_resumer(&w);
    CHECK(w.rc == UNWIND_END);
    CHECK(UNWIND_FRAMES_OK(w.frames)); /* unwind_body, coro__start */
    CHECK(w.outside == 0);
    if (!UNWIND_FRAMES_OK(w.frames)) fprintf(stderr, "unwind: %d frames\n", w.frames);
}

#if defined(_WIN32) && defined(__x86_64__)
/* ---- Windows x64: rdi, rsi and xmm6-xmm15 are callee-saved --------------------------------- */
/* Main loads known values into them and calls coro_resume from assembly; the coroutine zeroes
   them all before it yields; main must find its own values back (SysV makes all of these
   caller-saved, so only this test notices a switch that forgets them). */
static void *clobber_callee_saved(void *arg) {
    (void)arg;
    for (;;) {
        __asm__ volatile("xorl %%edi, %%edi\n\txorl %%esi, %%esi\n\t"
                         "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
                         "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"
                         "pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
                         "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t"
                         "pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15"
                         :
                         :
                         : "rdi", "rsi", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                           "xmm12", "xmm13", "xmm14", "xmm15");
        coro_yield(NULL);
    }
    return NULL;
}
struct win64_regs {
    uint64_t in[20], out[20]; /* xmm6..xmm15, two halves each */
    uint64_t rdi, rsi;
    void *co, *fn;
};
static void test_win64_callee_saved(void) {
    static struct win64_regs r;
    int i, ok = 1;
    r.co = coro_new(clobber_callee_saved, 0);
    r.fn = (void *)(uintptr_t)&coro_resume;
    for (i = 0; i < 20; i++) r.in[i] = 0x0101010101010101ull * (uint64_t)(i + 1);
    __asm__ volatile("movups 0(%%rbx), %%xmm6\n\tmovups 16(%%rbx), %%xmm7\n\t"
                     "movups 32(%%rbx), %%xmm8\n\tmovups 48(%%rbx), %%xmm9\n\t"
                     "movups 64(%%rbx), %%xmm10\n\tmovups 80(%%rbx), %%xmm11\n\t"
                     "movups 96(%%rbx), %%xmm12\n\tmovups 112(%%rbx), %%xmm13\n\t"
                     "movups 128(%%rbx), %%xmm14\n\tmovups 144(%%rbx), %%xmm15\n\t"
                     "movabsq $0x5151515151515151, %%rdi\n\t"
                     "movabsq $0x6262626262626262, %%rsi\n\t"
                     "movq 336(%%rbx), %%rcx\n\t" /* co */
                     "xorl %%edx, %%edx\n\t"
                     "subq $32, %%rsp\n\t" /* the callee's home space */
                     "callq *344(%%rbx)\n\t" /* coro_resume(co, NULL) */
                     "addq $32, %%rsp\n\t"
                     "movups %%xmm6, 160(%%rbx)\n\tmovups %%xmm7, 176(%%rbx)\n\t"
                     "movups %%xmm8, 192(%%rbx)\n\tmovups %%xmm9, 208(%%rbx)\n\t"
                     "movups %%xmm10, 224(%%rbx)\n\tmovups %%xmm11, 240(%%rbx)\n\t"
                     "movups %%xmm12, 256(%%rbx)\n\tmovups %%xmm13, 272(%%rbx)\n\t"
                     "movups %%xmm14, 288(%%rbx)\n\tmovups %%xmm15, 304(%%rbx)\n\t"
                     "movq %%rdi, 320(%%rbx)\n\t"
                     "movq %%rsi, 328(%%rbx)"
                     :
                     : "b"(&r)
                     : "rax", "rcx", "rdx", "rdi", "rsi", "r8", "r9", "r10", "r11", "xmm0", "xmm1",
                       "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
    for (i = 0; i < 20; i++)
        if (r.out[i] != r.in[i]) ok = 0;
    CHECK(ok);
    CHECK(r.rdi == 0x5151515151515151ull);
    CHECK(r.rsi == 0x6262626262626262ull);
    CHECK(coro_status((coro_t *)r.co) == CORO_SUSPENDED); /* it did run and yield */
    coro_free((coro_t *)r.co);
}
#endif

int main(void) {
    RUN(test_values_both_ways);
    RUN(test_seed_examples);
    RUN(test_statics_seen_across_switch);
    RUN(test_nesting_states);
    RUN(test_misuse);
    RUN(test_defer_order_on_return);
    RUN(test_kill_runs_cleanups);
    RUN(test_self_kill);
    RUN(test_defer_pop);
    RUN(test_cleanup_cannot_switch_away);
    RUN(test_runtime_exit_hook);
    RUN(test_raise);
    RUN(test_raise_unstarted);
    RUN(test_transfer_ring);
    RUN(test_transfer_chain);
    RUN(test_transfer_cuts_chain);
    RUN(test_transfer_from_main);
    RUN(test_same_fringe);
#if CORO_FPU_KEEP >= 1 /* (also built with 1 and 0: every other check holds there too) */
    RUN(test_rounding_mode_per_coroutine);
    RUN(test_rounding_mode_inherited_from_a_coroutine);
#endif
#if CORO_FPU_KEEP >= 2
    RUN(test_fp_control_bit_per_coroutine);
#endif
    RUN(test_introspection);
    RUN(test_stack_release);
    RUN(test_unwind_stops_at_coroutine_start);
#if defined(_WIN32) && defined(__x86_64__)
    RUN(test_win64_callee_saved);
#endif
    CHECK(coro_count_alive() == 0);
    return check_done();
}
