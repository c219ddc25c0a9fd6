/* plot.c - `nabla train --plot FILE`: each epoch's figures recorded as
 * training runs, then drawn as an SVG with no library (train and test loss
 * on the left, test accuracy or R2 on the right), or a PNG converted from
 * it by rsvg-convert or ImageMagick. */
#define _POSIX_C_SOURCE 200809L /* posix_spawnp */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train.h"

extern char **environ;

struct plot {
    char title[256];
    int classify;
    nb_epoch *e;
    size_t n, cap;
    int failed; /* memory ran out while recording */
};

plot *plot_new(const char *title, int classify)
{
    plot *p = calloc(1, sizeof *p);
    if (p) {
        snprintf(p->title, sizeof p->title, "%s", title);
        p->classify = classify;
    }
    return p;
}

void plot_free(plot *p)
{
    if (p)
        free(p->e);
    free(p);
}

void plot_epoch(void *arg, const nb_epoch *e)
{
    plot *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        nb_epoch *v = realloc(p->e, cap * sizeof *v);
        if (!v) {
            p->failed = 1;
            return;
        }
        p->e = v;
        p->cap = cap;
    }
    p->e[p->n++] = *e;
}

/* ---- Drawing ------------------------------------------------------------------ */

/* What a series reads from an epoch. */
typedef double (*field)(const nb_epoch *e);
static double train_loss(const nb_epoch *e) { return e->train_loss; }
static double test_loss(const nb_epoch *e) { return e->test_loss; }
static double test_metric(const nb_epoch *e)
{
    return isnan(e->test_accuracy) ? e->test_r2 : e->test_accuracy;
}

/* An axis from lo to hi in steps of step, all round numbers (1, 2, 5 x 10^k). */
typedef struct axis {
    double lo, hi, step;
} axis;

static axis nice_axis(double lo, double hi, int ticks)
{
    if (!(hi > lo)) {
        double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    double raw = (hi - lo) / ticks, mag = pow(10, floor(log10(raw)));
    double f = raw / mag, step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    return (axis){ floor(lo / step) * step, ceil(hi / step) * step, step };
}

/* A panel: its place on the page and its axes. */
typedef struct panel {
    double x, y, w, h; /* plotting area */
    axis ax, ay;       /* ay in log10 units when log is set */
    int log;
} panel;

static double px(const panel *pn, double v)
{
    return pn->x + (v - pn->ax.lo) / (pn->ax.hi - pn->ax.lo) * pn->w;
}

static double py(const panel *pn, double v)
{
    v = pn->log ? log10(v) : v;
    return pn->y + pn->h - (v - pn->ay.lo) / (pn->ay.hi - pn->ay.lo) * pn->h;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else
            fputc(*s, f);
    }
}

static void frame(FILE *f, const panel *pn, const char *ylabel)
{
    fprintf(f, "<g font-size=\"12\" fill=\"#444\">\n");
    for (double t = pn->ay.lo; t <= pn->ay.hi + pn->ay.step / 2; t += pn->ay.step) {
        double v = pn->log ? pow(10, t) : fabs(t) < pn->ay.step / 1e6 ? 0 : t;
        double y = py(pn, v);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                pn->x, y, pn->x + pn->w, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", pn->x - 6,
                y + 4, v);
    }
    for (double v = pn->ax.lo; v <= pn->ax.hi + pn->ax.step / 2; v += pn->ax.step) {
        double x = px(pn, v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n",
                x, pn->y + pn->h, x, pn->y + pn->h + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x,
                pn->y + pn->h + 19, v);
    }
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            pn->x, pn->y, pn->w, pn->h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n",
            pn->x + pn->w / 2, pn->y + pn->h + 38);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" fill=\"#222\">%s</text>\n</g>\n",
            pn->x, pn->y - 10, ylabel);
}

/* A line through the epochs that have the figure, dots where there are few. */
static void series(FILE *f, const plot *p, const panel *pn, field get, const char *color)
{
    size_t have = 0;
    for (size_t i = 0; i < p->n; i++)
        have += isfinite(get(&p->e[i]));
    if (!have)
        return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t i = 0; i < p->n; i++)
        if (isfinite(get(&p->e[i])))
            fprintf(f, "%.1f,%.1f ", px(pn, p->e[i].epoch), py(pn, get(&p->e[i])));
    fprintf(f, "\"/>\n");
    for (size_t i = 0; have <= 40 && i < p->n; i++)
        if (isfinite(get(&p->e[i])))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    px(pn, p->e[i].epoch), py(pn, get(&p->e[i])), color);
}

static void legend(FILE *f, double x, double y, const char *color, const char *name)
{
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
            "fill=\"#222\">%s</text>\n",
            x, y, x + 22, y, color, x + 28, y + 4, name);
}

/* The range of the finite figures of the given fields. */
static int range(const plot *p, field a, field b, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < p->n; i++)
        for (int k = 0; k < 2; k++) {
            double v = (k ? b : a) ? (k ? b : a)(&p->e[i]) : NAN;
            if (isfinite(v)) {
                *lo = fmin(*lo, v);
                *hi = fmax(*hi, v);
            }
        }
    return *lo <= *hi;
}

static void draw(FILE *f, const plot *p)
{
    const double W = 960, H = 440;
    const char *blue = "#1f77b4", *orange = "#e6550d", *green = "#2ca02c";
    double lo, hi;
    int epochs = p->n ? p->e[p->n - 1].epoch : 1;
    axis ax = nice_axis(epochs > 1 ? 1 : 0, epochs > 1 ? epochs : 2, 8);
    ax.lo = fmax(ax.lo, 0);

    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "viewBox=\"0 0 %g %g\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%g\" y=\"28\" font-size=\"16\" text-anchor=\"middle\" fill=\"#222\">",
            W, H, W, H, W / 2);
    xml_text(f, p->title);
    fprintf(f, "</text>\n");

    panel loss = { 80, 70, 360, 300, ax, { 0, 1, 0.2 }, 0 };
    /* a loss that falls by more than 30 times reads better on a log scale */
    if (range(p, train_loss, test_loss, &lo, &hi) && lo > 0 && hi > 30 * lo) {
        loss.log = 1;
        loss.ay = (axis){ floor(log10(lo)), ceil(log10(hi)), 1 };
    } else if (range(p, train_loss, test_loss, &lo, &hi)) {
        loss.ay = nice_axis(lo < 0.25 * hi ? fmin(lo, 0) : lo, hi, 6);
    }
    frame(f, &loss, loss.log ? "loss (log scale)" : "loss");
    series(f, p, &loss, train_loss, blue);
    series(f, p, &loss, test_loss, orange);
    legend(f, loss.x + loss.w - 110, loss.y + 18, blue, "train");
    legend(f, loss.x + loss.w - 110, loss.y + 36, orange, "test");

    panel met = { 560, 70, 360, 300, ax, { 0, 1, 0.2 }, 0 };
    const char *name = p->classify ? "test accuracy" : "test R\xc2\xb2";
    if (range(p, test_metric, NULL, &lo, &hi)) {
        met.ay = nice_axis(lo, p->classify ? fmax(hi, fmin(1, hi)) : hi, 6);
        if (p->classify)
            met.ay.hi = fmin(met.ay.hi, 1);
    }
    frame(f, &met, name);
    series(f, p, &met, test_metric, green);
    if (!range(p, test_metric, NULL, &lo, &hi))
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
                "fill=\"#888\">no test set</text>\n",
                met.x + met.w / 2, met.y + met.h / 2);
    fprintf(f, "</svg>\n");
}

/* ---- Files -------------------------------------------------------------------- */

static nb_status write_svg(const plot *p, const char *path, nb_err *err)
{
    errno = 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return nb_err_set(err, NB_ERR_IO, "--plot: cannot write %s: %s", path, strerror(errno));
    draw(f, p);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(path);
        return nb_err_set(err, NB_ERR_IO, "--plot: writing %s failed", path);
    }
    return NB_OK;
}

/* Run argv; its exit status, or -1 if the program is not there. */
static int run(char *const argv[])
{
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

nb_status plot_write(const plot *p, const char *path, nb_err *err)
{
    size_t n = strlen(path);
    if (p->failed)
        return nb_err_set(err, NB_ERR_NOMEM, "--plot: out of memory");
    if (n < 4 || strcmp(path + n - 4, ".png") != 0)
        return write_svg(p, path, err);
    /* a name that starts with '-' must not read as an option */
    char svg[4300], png[4200];
    const char *dot = path[0] == '-' ? "./" : "";
    if (n > 4000)
        return nb_err_set(err, NB_ERR_ARG, "--plot: the file name is too long");
    snprintf(png, sizeof png, "%s%s", dot, path);
    snprintf(svg, sizeof svg, "%s.svg-%ld", png, (long)getpid());
    nb_status s = write_svg(p, svg, err);
    if (s != NB_OK)
        return s;
    char rsvg_name[] = "rsvg-convert", fmt[] = "--format=png", out[] = "--output";
    char convert_name[] = "convert";
    char *rsvg[] = { rsvg_name, fmt, out, png, svg, NULL };
    char *magick[] = { convert_name, svg, png, NULL };
    int rc = run(rsvg);
    if (rc < 0)
        rc = run(magick);
    remove(svg);
    if (rc < 0)
        return nb_err_set(err, NB_ERR_IO,
                          "--plot %s: a PNG needs rsvg-convert (Debian package librsvg2-bin) "
                          "or ImageMagick's convert (imagemagick); install one, or give a "
                          "name ending in .svg",
                          path);
    if (rc != 0)
        return nb_err_set(err, NB_ERR_IO, "--plot %s: the SVG to PNG conversion failed (%d)",
                          path, rc);
    return NB_OK;
}
