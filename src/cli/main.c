/* main.c - the nabla command: dispatch to a subcommand (`nabla grad` in
 * grad.c, `nabla lecture` in lecture.c, `nabla train` in train.c, `nabla
 * predict` in predict.c), the
 * top-level help and --version, and the usage message they share. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nabla.h"

static const char main_help[] =
    "usage: nabla COMMAND [ARGS]\n"
    "\n"
    "Reverse-mode automatic differentiation: one expression at a time, or\n"
    "models trained on data.\n"
    "\n"
    "commands:\n"
    "  grad EXPR [NAME=VALUE ...]  value and gradient of an expression\n"
    "  lecture [NAME]              the lecture's worked examples, gate by gate,\n"
    "                              checked against the slides\n"
    "  train MODEL --data DATA     train linear, logistic, softmax or mlp models\n"
    "                              on a CSV file or a shipped data set\n"
    "  predict --model FILE --data DATA\n"
    "                              apply a model saved by train --save\n"
    "\n"
    "options:\n"
    "  -h, --help     this help; 'nabla COMMAND --help' describes a command\n"
    "  --version      print the version\n"
    "\n"
    "Start with 'nabla lecture'.  Then try:\n"
    "  nabla grad '(x+y)*z' x=-2 y=5 z=-4 --table\n"
    "  nabla train mlp --data digits --hidden 50\n"
    "  nabla train softmax --data iris --epochs 100 --save iris.safetensors\n"
    "  nabla predict --model iris.safetensors --data iris\n";

int cli_vusage(const char *cmd, int status, const char *fmt, va_list ap)
{
    char msg[CLI_MSG_MAX + 1];
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "nabla %s: ", cmd);
    if (len <= CLI_MSG_MAX) {
        fputs(msg, stderr);
    } else {
        /* the whole message once more, to print its last bytes */
        char *all = malloc((size_t)len + 1);
        int keep = CLI_MSG_MAX / 2;
        if (all && vsnprintf(all, (size_t)len + 1, fmt, copy) == len)
            fprintf(stderr, "%.*s ... (%d bytes left out) ... %s", keep, all, len - 2 * keep,
                    all + len - keep);
        else
            fprintf(stderr, "%.*s ...", keep, msg);
        free(all);
    }
    va_end(copy);
    fprintf(stderr, "\n(see nabla %s --help)\n", cmd);
    return status;
}

const char *cli_clip(const char *s, char buf[CLI_CLIP + 4])
{
    size_t n = strlen(s);
    if (n <= CLI_CLIP)
        return s;
    n = CLI_CLIP;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--; /* s[n] continues a character: cut before it starts */
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
    return buf;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc < 2) {
        fputs(main_help, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_help, stdout);
        rc = 0;
    } else if (strcmp(cmd, "--version") == 0) {
        printf("nabla %s\n", NB_VERSION);
        rc = 0;
    } else if (strcmp(cmd, "grad") == 0) {
        rc = cmd_grad(argc - 2, argv + 2);
    } else if (strcmp(cmd, "lecture") == 0) {
        rc = cmd_lecture(argc - 2, argv + 2);
    } else if (strcmp(cmd, "train") == 0) {
        rc = cmd_train(argc - 2, argv + 2);
    } else if (strcmp(cmd, "predict") == 0) {
        rc = cmd_predict(argc - 2, argv + 2);
    } else {
        char clip[CLI_CLIP + 4];
        fprintf(stderr,
                "nabla: unknown command '%s' (commands: grad, lecture, train, predict; "
                "see nabla --help)\n",
                cli_clip(cmd, clip));
        return CLI_EXIT_USAGE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("nabla: writing the output");
        return CLI_EXIT_ERROR;
    }
    return rc;
}
