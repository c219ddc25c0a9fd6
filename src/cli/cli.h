/* cli.h - what the nabla command's files share: the commands main.c
 * dispatches to, each in a file of its own (grad.c, lecture.c, train.c,
 * predict.c),
 * and the usage message they print.  Public engine API only. */
#ifndef NABLA_CLI_H
#define NABLA_CLI_H

#include <stdarg.h>
#include <stdio.h>

enum { CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2 };

/* "nabla CMD: MESSAGE" and a pointer to "nabla CMD --help" on stderr;
 * returns status (the usage exit status, 2).  A message longer than
 * CLI_MSG_MAX bytes (a pasted file as an option, say) keeps its start and
 * end, and says how much was left out between them. */
#define CLI_MSG_MAX 400
int cli_vusage(const char *cmd, int status, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 0)))
#endif
    ;

/* s for a message: whole up to CLI_CLIP bytes, else its first CLI_CLIP
 * bytes (not splitting a UTF-8 character) and "...", in buf. */
#define CLI_CLIP 80
const char *cli_clip(const char *s, char buf[CLI_CLIP + 4]);

/* The commands, given the arguments after their name: `nabla grad`
 * (grad.c), `nabla lecture` (lecture.c), `nabla train` (train.c), `nabla predict`
 * (predict.c).  Each
 * returns the exit status. */
int cmd_grad(int argc, char **argv);
int cmd_lecture(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);

#endif /* NABLA_CLI_H */
