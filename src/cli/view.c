/* view.c - what the commands add to the engine's table and picture (the
 * table and the DOT text are the library's, src/draw.c): gate numbers for
 * messages, numbers for people, and the PNG rendered by an external `dot`.
 * Parsing is in expr.c, the commands in grad.c and lecture.c. */
#define _POSIX_C_SOURCE 200809L

#include "view.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Gates ------------------------------------------------------------- */

int gates_collect(nb_graph *g, nb_node *root, gate_list *gl)
{
    size_t n = nb_ancestors(g, root, NULL, 0);

    memset(gl, 0, sizeof *gl);
    gl->node = malloc((n ? n : 1) * sizeof *gl->node);
    if (!gl->node)
        return -1;
    gl->n = nb_ancestors(g, root, gl->node, n);
    return 0;
}

void gates_free(gate_list *gl)
{
    free(gl->node);
    memset(gl, 0, sizeof *gl);
}

/* the gates are in increasing nb_index: a binary search */
size_t gate_number(const gate_list *gl, const nb_node *n)
{
    size_t lo = 0, hi = gl->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nb_index(gl->node[mid]) < nb_index(n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < gl->n && gl->node[lo] == n ? lo + 1 : 0;
}

const char *fmt_num(char buf[32], double v, int digits)
{
    if (isnan(v))
        snprintf(buf, 32, "nan"); /* never "-nan" */
    else
        snprintf(buf, 32, "%.*g", digits, v + 0.0); /* + 0.0 turns -0 into 0 */
    return buf;
}

/* ---- PNG through Graphviz ------------------------------------------------ */

/* The first executable `dot` on PATH, in buf; NULL if there is none. */
static const char *find_dot(char *buf, size_t size)
{
    const char *path = getenv("PATH");

    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        int n = snprintf(buf, size, "%.*s/dot", (int)len, len ? path : ".");
        if (n > 0 && (size_t)n < size && access(buf, X_OK) == 0)
            return buf;
        path += len + (path[len] == ':');
    }
    return NULL;
}

int render_png(nb_graph *g, nb_node *root, const nb_draw_opts *opts, const char *png_path,
               char *why, size_t why_size)
{
    char dot[4096], *out_path;
    int fd[2];

    if (!find_dot(dot, sizeof dot)) {
        snprintf(why, why_size,
                 "Graphviz is not installed (no 'dot' program on PATH); "
                 "install it (Debian: apt-get install graphviz) or use --dot FILE");
        return -1;
    }
    /* One argument, "-oFILE", which dot never takes for an option of its
     * own; a name starting with '-' gets "./" too. */
    size_t len = strlen(png_path) + 5;
    if ((out_path = malloc(len)))
        snprintf(out_path, len, "-o%s%s", png_path[0] == '-' ? "./" : "", png_path);
    if (!out_path || pipe(fd) != 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        free(out_path);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        free(out_path);
        return -1;
    }
    if (pid == 0) {
        char *argv[] = { dot, "-Tpng", out_path, NULL };
        close(fd[1]);
        if (dup2(fd[0], STDIN_FILENO) < 0)
            _exit(127);
        close(fd[0]);
        execv(dot, argv);
        _exit(127);
    }
    close(fd[0]);
    /* If dot dies early, writing gets EPIPE instead of killing us. */
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
    sigaction(SIGPIPE, &ignore, &old);
    FILE *to_dot = fdopen(fd[1], "w");
    if (to_dot) {
        nb_print_dot(to_dot, g, root, opts); /* a failed write shows as dot's failure */
        fclose(to_dot);
    } else {
        close(fd[1]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGPIPE, &old, NULL);
    free(out_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, why_size, "%s -Tpng failed (%s %d)", dot,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}
