/* main.c - the nabla command: dispatch to a subcommand (`nabla grad` in
 * grad.c, `nabla lecture` in lecture.c, `nabla train` in train.c, `nabla
 * predict` in predict.c), the
 * top-level help and --version, and the usage message they share. */
#include <stdarg.h>
#include <stdio.h>
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
    fprintf(stderr, "nabla %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see nabla %s --help)\n", cmd);
    return status;
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
        fprintf(stderr,
                "nabla: unknown command '%s' (commands: grad, lecture, train, predict; "
                "see nabla --help)\n",
                cmd);
        return CLI_EXIT_USAGE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("nabla: writing the output");
        return CLI_EXIT_ERROR;
    }
    return rc;
}
