/* test_web_json.c - the browser page's C side (web/nabla_web.c), natively:
 * the JSON it answers for expressions, lecture examples and gradient-descent
 * steps, and a failure reply, never a crash, for every kind of bad input.
 * The page itself is tested in Chromium by page_test.js. */
#include "check.h"
#include "nabla_web.h"

#include <stdlib.h>
#include <string.h>

static int has(const char *json, const char *s) { return strstr(json, s) != NULL; }

/* The number after the first "key": in json; NAN if there is none. */
static double number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void add_mul_gives_the_lecture_numbers(void)
{
    const char *r = nbw_eval("(x+y)*z", "x=-2 y=5, z=-4");
    CHECK(has(r, "\"ok\":true"));
    CHECK_NEAR(number(r, "value"), -12, 0);
    CHECK(has(r, "\"op\":\"add\",\"span\":[1,4]"));
    CHECK(has(r, "\"local\":[1,1],\"pass\":[-4,-4]"));
    CHECK(has(r, "\"local\":[-4,3],\"pass\":[-4,3]"));
    CHECK(has(r, "\"name\":\"z\",\"value\":-4,\"grad\":3,\"numeric\":"));
    CHECK_NEAR(number(strstr(r, "\"vars\""), "numeric"), -4, 1e-6);
}

static void parse_errors_name_their_column(void)
{
    const char *r = nbw_eval("(x+y)*", "x=1 y=2");
    CHECK(has(r, "\"ok\":false,\"kind\":\"syntax\",\"field\":\"expr\",\"column\":7"));
    r = nbw_eval("x*y", "x=1 y=two");
    CHECK(has(r, "\"kind\":\"values\",\"field\":\"values\",\"column\":5"));
    r = nbw_eval("x*y", "x=1");
    CHECK(has(r, "no value for y"));
    CHECK(has(nbw_step(0.1), "nothing to step"));
    r = nbw_eval("x*y", "x=1 y=2 w=3");
    CHECK(has(r, "no variable 'w'"));
    r = nbw_eval("x*y", "x=1 y=2 x=3");
    CHECK(has(r, "x is given twice"));
    r = nbw_eval("x*y", "x=1 =2");
    CHECK(has(r, "expected NAME=VALUE"));
    r = nbw_eval("log(x)", "x=-1");
    CHECK(has(r, "\"kind\":\"domain\""));
    CHECK(has(nbw_step(0.1), "nothing to step")); /* the failed graph is gone */
    r = nbw_eval("x \"y", "x=1");
    CHECK(has(r, "\"ok\":false"));
}

static void long_input_is_refused(void)
{
    char *src = malloc(3001);
    if (!src)
        return;
    for (int i = 0; i < 3000; i += 2)
        memcpy(src + i, "x+", 2);
    src[2999] = 'x';
    src[3000] = '\0';
    CHECK(has(nbw_eval(src, "x=1"), "too long"));
    CHECK(has(nbw_step(0.1), "nothing to step"));
    src[1999] = '\0'; /* "x+x+...+x", 1000 gates: within the limit */
    src[1998] = 'x';
    CHECK(has(nbw_eval(src, "x=1"), "\"ok\":true"));
    free(src);
    CHECK(has(nbw_eval(NULL, NULL), "\"ok\":false"));
}

static void a_lone_variable_has_gradient_one(void)
{
    const char *r = nbw_eval("x", "x=3");
    CHECK(has(r, "\"ok\":true"));
    CHECK(has(r, "\"grad\":1"));
    CHECK(has(nbw_step(0.1), "\"ok\":false"));
}

static void every_lecture_example_runs(void)
{
    const char *list = nbw_lectures();
    static const char *const names[] = { "add-mul", "neuron", "apple", "apple-orange",
                                         "chain",   "gates",  "copy",  "two-layer" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char pat[40];
        snprintf(pat, sizeof pat, "\"name\":\"%s\"", names[i]);
        CHECK(has(list, pat));
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(has(nbw_lecture(names[i]), "\"ok\":true"));
    CHECK_NEAR(number(nbw_lecture("neuron"), "value"), 0.7310585786, 1e-9);
    CHECK(has(nbw_lecture("copy"), "\"name\":\"x\",\"value\":3,\"grad\":-2"));
    CHECK(has(nbw_lecture("nope"), "\"ok\":false"));
    CHECK(has(nbw_lecture(NULL), "\"ok\":false"));
}

static void a_step_makes_the_two_layer_loss_go_down(void)
{
    CHECK(has(nbw_lecture("two-layer"), "\"ok\":true"));
    CHECK(has(nbw_step(-1), "learning rate"));
    const char *r = nbw_step(0.3);
    CHECK(number(r, "value") < number(r, "before"));
    CHECK_NEAR(number(strstr(r, "\"name\":\"w1_10\""), "value"), 0.3853, 1e-4);
}

int main(void)
{
    add_mul_gives_the_lecture_numbers();
    parse_errors_name_their_column();
    long_input_is_refused();
    a_lone_variable_has_gradient_one();
    every_lecture_example_runs();
    a_step_makes_the_two_layer_loss_go_down();
    return check_summary();
}
